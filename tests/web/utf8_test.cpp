// Tests for dally/web/detail/utf8.hpp: the incremental UTF-8 validator behind the 1007
// checks of text messages and close reasons.
#include "dally/web/detail/utf8.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "test_support.hpp"

namespace {

using dally::web::detail::is_valid_utf8;
using dally::web::detail::Utf8Validator;

std::string bytes(std::initializer_list<int> list) {
    std::string s;
    for (int b : list) s.push_back(static_cast<char>(b));
    return s;
}

// Every way of cutting `s` in two, fed as two chunks, gives the same verdict as one call.
void expect_same_verdict_at_every_split(const std::string& s, bool valid) {
    for (std::size_t cut = 0; cut <= s.size(); ++cut) {
        Utf8Validator v;
        const bool ok = v.feed(std::string_view(s).substr(0, cut)) &&
                        v.feed(std::string_view(s).substr(cut)) && v.complete();
        EXPECT_EQ(ok, valid) << "cut at " << cut << " of " << s.size();
    }
    // And byte by byte.
    Utf8Validator v;
    bool ok = true;
    for (char c : s) ok = ok && v.feed(std::string_view(&c, 1));
    EXPECT_EQ(ok && v.complete(), valid) << "byte by byte";
}

TEST(Utf8, AcceptsAsciiAndTheEmptyString) {
    EXPECT_TRUE(is_valid_utf8(""));
    EXPECT_TRUE(is_valid_utf8("hello, world"));
    EXPECT_TRUE(is_valid_utf8(std::string(1000, 'x')));
    EXPECT_TRUE(is_valid_utf8(std::string("a\0b", 3)));  // NUL is a valid character
}

TEST(Utf8, AcceptsEveryEncodingLengthAndTheBoundaries) {
    EXPECT_TRUE(is_valid_utf8("\u00e9\u20ac\U0001F600"));                        // 2, 3 and 4 bytes
    EXPECT_TRUE(is_valid_utf8("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"));  // "κόσμε"
    EXPECT_TRUE(is_valid_utf8(bytes({0x7F})));                                   // U+007F
    EXPECT_TRUE(is_valid_utf8(bytes({0xC2, 0x80})));                             // U+0080
    EXPECT_TRUE(is_valid_utf8(bytes({0xDF, 0xBF})));                             // U+07FF
    EXPECT_TRUE(is_valid_utf8(bytes({0xE0, 0xA0, 0x80})));                       // U+0800
    EXPECT_TRUE(is_valid_utf8(bytes({0xED, 0x9F, 0xBF})));                       // U+D7FF
    EXPECT_TRUE(is_valid_utf8(bytes({0xEE, 0x80, 0x80})));                       // U+E000
    EXPECT_TRUE(is_valid_utf8(bytes({0xEF, 0xBF, 0xBF})));                       // U+FFFF
    EXPECT_TRUE(is_valid_utf8(bytes({0xF0, 0x90, 0x80, 0x80})));                 // U+10000
    EXPECT_TRUE(is_valid_utf8(bytes({0xF4, 0x8F, 0xBF, 0xBF})));                 // U+10FFFF
}

TEST(Utf8, RejectsOverlongForms) {
    EXPECT_FALSE(is_valid_utf8(bytes({0xC0, 0xAF})));              // '/' in 2 bytes
    EXPECT_FALSE(is_valid_utf8(bytes({0xC1, 0xBF})));              // U+007F in 2 bytes
    EXPECT_FALSE(is_valid_utf8(bytes({0xE0, 0x80, 0xAF})));        // '/' in 3 bytes
    EXPECT_FALSE(is_valid_utf8(bytes({0xE0, 0x9F, 0xBF})));        // U+07FF in 3 bytes
    EXPECT_FALSE(is_valid_utf8(bytes({0xF0, 0x80, 0x80, 0xAF})));  // '/' in 4 bytes
    EXPECT_FALSE(is_valid_utf8(bytes({0xF0, 0x8F, 0xBF, 0xBF})));  // U+FFFF in 4 bytes
}

TEST(Utf8, RejectsSurrogates) {
    EXPECT_FALSE(is_valid_utf8(bytes({0xED, 0xA0, 0x80})));                    // U+D800
    EXPECT_FALSE(is_valid_utf8(bytes({0xED, 0xAD, 0xBF})));                    // U+DB7F
    EXPECT_FALSE(is_valid_utf8(bytes({0xED, 0xBF, 0xBF})));                    // U+DFFF
    EXPECT_FALSE(is_valid_utf8(bytes({0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80})));  // a CESU pair
}

TEST(Utf8, RejectsCodePointsAboveU10FFFF) {
    EXPECT_FALSE(is_valid_utf8(bytes({0xF4, 0x90, 0x80, 0x80})));  // U+110000
    EXPECT_FALSE(is_valid_utf8(bytes({0xF5, 0x80, 0x80, 0x80})));
    EXPECT_FALSE(is_valid_utf8(bytes({0xF7, 0xBF, 0xBF, 0xBF})));
    EXPECT_FALSE(is_valid_utf8(bytes({0xF8, 0x88, 0x80, 0x80, 0x80})));  // old 5-byte form
    EXPECT_FALSE(is_valid_utf8(bytes({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80})));
    EXPECT_FALSE(is_valid_utf8(bytes({0xFE})));
    EXPECT_FALSE(is_valid_utf8(bytes({0xFF})));
}

TEST(Utf8, RejectsStrayAndMissingContinuationBytes) {
    EXPECT_FALSE(is_valid_utf8(bytes({0x80})));
    EXPECT_FALSE(is_valid_utf8(bytes({0xBF})));
    EXPECT_FALSE(is_valid_utf8(bytes({'a', 0x80, 'b'})));
    EXPECT_FALSE(is_valid_utf8(bytes({0xC3, 'a'})));  // lead byte, then ASCII
    EXPECT_FALSE(is_valid_utf8(bytes({0xE2, 0x82, 'a'})));
    EXPECT_FALSE(is_valid_utf8(bytes({0xC3, 0xA9, 0xA9})));  // one continuation too many
}

TEST(Utf8, TruncatedCharacterIsIncompleteNotFailed) {
    for (const std::string& s : {bytes({0xC3}), bytes({0xE2, 0x82}), bytes({0xF0, 0x9F, 0x98})}) {
        Utf8Validator v;
        EXPECT_TRUE(v.feed(s)) << "a prefix of a valid character is not an error yet";
        EXPECT_FALSE(v.failed());
        EXPECT_FALSE(v.complete());
        EXPECT_FALSE(is_valid_utf8(s));
    }
    Utf8Validator v;
    EXPECT_TRUE(v.feed(bytes({0xF0, 0x9F})));
    EXPECT_TRUE(v.feed(bytes({0x98, 0x80})));
    EXPECT_TRUE(v.complete());
}

TEST(Utf8, FailsAtTheFirstBadByteAndStaysFailedUntilReset) {
    Utf8Validator v;
    EXPECT_TRUE(v.feed("valid so far "));
    EXPECT_FALSE(v.feed(bytes({0xC0})));  // can never start a valid sequence
    EXPECT_TRUE(v.failed());
    EXPECT_FALSE(v.feed("more ascii"));
    EXPECT_FALSE(v.complete());
    v.reset();
    EXPECT_TRUE(v.feed("fresh"));
    EXPECT_TRUE(v.complete());
}

TEST(Utf8, SameVerdictWhenSplitAtEveryBoundary) {
    const std::string valid =
        "ascii \u00e9\u20ac\U0001F600 and more text after it, past eight bytes";
    expect_same_verdict_at_every_split(valid, true);
    const std::vector<std::string> invalid = {
        "ok " + bytes({0xED, 0xA0, 0x80}) + " tail",
        "ok " + bytes({0xF4, 0x90, 0x80, 0x80}),
        "0123456789" + bytes({0xE0, 0x80, 0xAF}) + "0123456789",
        "truncated at the end " + bytes({0xF0, 0x9F, 0x98}),
    };
    for (const std::string& s : invalid) expect_same_verdict_at_every_split(s, false);
}

TEST(Utf8, AsciiFastPathStillSeesANonAsciiByteAnywhereInAWord) {
    for (std::size_t pos = 0; pos < 24; ++pos) {
        std::string s(24, 'a');
        s[pos] = static_cast<char>(0xFF);
        EXPECT_FALSE(is_valid_utf8(s)) << "bad byte at " << pos;
        s[pos] = static_cast<char>(0xC3);
        s.insert(pos + 1, 1, static_cast<char>(0xA9));
        EXPECT_TRUE(is_valid_utf8(s)) << "é at " << pos;
    }
}

}  // namespace

// JSON string output: escaping and invalid UTF-8 replacement.
#include "dally/web/json.hpp"

#include <gtest/gtest.h>

using dally::web::json_str;
using dally::web::json_string;

TEST(Json, EscapesQuotesBackslashesAndControlCharacters) {
    EXPECT_EQ(json_string("plain"), "\"plain\"");
    EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(json_string("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
    EXPECT_EQ(json_string(std::string_view("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
    EXPECT_EQ(json_string(std::string_view("a\0b", 3)), "\"a\\u0000b\"");
}

TEST(Json, KeepsValidUtf8AndReplacesInvalidBytes) {
    EXPECT_EQ(json_string("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
    const std::string fffd = "\xEF\xBF\xBD";
    EXPECT_EQ(json_string("\xFF"), "\"" + fffd + "\"");
    EXPECT_EQ(json_string("\xC0\xAF"), "\"" + fffd + fffd + "\"");          // overlong '/'
    EXPECT_EQ(json_string("\xED\xA0\x80"), "\"" + fffd + fffd + fffd + "\"");  // surrogate
    EXPECT_EQ(json_string("ok\xE2\x82"), "\"ok" + fffd + fffd + "\"");        // truncated
}

TEST(Json, FormatsThroughFmt) {
    EXPECT_EQ(fmt::format(R"({{"name":{}}})", json_str{"O\"Brien"}), R"({"name":"O\"Brien"})");
}

// Tests for mud_server/auth.hpp: argon2id hashing and verification, salts, resume tokens
// and parse_hash_cost. Uses HashCost::min except where the cost itself is under test.
#include "auth.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using mud::HashCost;

bool is_lower_hex(const std::string& s) {
    return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(AuthTest, InitCryptoIsIdempotent) {
    EXPECT_NO_THROW(mud::init_crypto());
    EXPECT_NO_THROW(mud::init_crypto());
}

TEST(AuthTest, VerifyAcceptsTheRightPassword) {
    const std::string hash = mud::hash_password("correct horse", HashCost::min);
    EXPECT_TRUE(mud::verify_password(hash, "correct horse"));
}

TEST(AuthTest, VerifyRejectsAWrongPassword) {
    const std::string hash = mud::hash_password("correct horse", HashCost::min);
    EXPECT_FALSE(mud::verify_password(hash, "correct horsE"));
    EXPECT_FALSE(mud::verify_password(hash, "correct horse "));
    EXPECT_FALSE(mud::verify_password(hash, ""));
}

TEST(AuthTest, HashIsArgon2idWithTheMinimumCost) {
    const std::string hash = mud::hash_password("pw", HashCost::min);
    EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
    EXPECT_NE(hash.find("$m=8,t=1,p=1$"), std::string::npos) << hash;
}

TEST(AuthTest, SamePasswordHashesDifferentlyEachTime) {
    const std::string first = mud::hash_password("pw", HashCost::min);
    const std::string second = mud::hash_password("pw", HashCost::min);
    EXPECT_NE(first, second);
    EXPECT_TRUE(mud::verify_password(first, "pw"));
    EXPECT_TRUE(mud::verify_password(second, "pw"));
}

TEST(AuthTest, EmptyUnicodeAndEmbeddedNulPasswordsWork) {
    const std::string empty = mud::hash_password("", HashCost::min);
    EXPECT_TRUE(mud::verify_password(empty, ""));
    EXPECT_FALSE(mud::verify_password(empty, "x"));

    const std::string unicode = mud::hash_password("p\xc3\xa4ss \xf0\x9f\x90\x89", HashCost::min);
    EXPECT_TRUE(mud::verify_password(unicode, "p\xc3\xa4ss \xf0\x9f\x90\x89"));

    const std::string with_nul("a\0b", 3);
    const std::string nul = mud::hash_password(with_nul, HashCost::min);
    EXPECT_TRUE(mud::verify_password(nul, with_nul));
    EXPECT_FALSE(mud::verify_password(nul, "a"));
}

TEST(AuthTest, MalformedHashVerifiesFalseWithoutThrowing) {
    EXPECT_FALSE(mud::verify_password("", "pw"));
    EXPECT_FALSE(mud::verify_password("not a hash", "pw"));
    EXPECT_FALSE(mud::verify_password(std::string(1000, '$'), "pw"));
    std::string truncated = mud::hash_password("pw", HashCost::min);
    truncated.resize(truncated.size() - 5);
    EXPECT_FALSE(mud::verify_password(truncated, "pw"));
    const std::string with_nul = mud::hash_password("pw", HashCost::min) + std::string(1, '\0');
    EXPECT_FALSE(mud::verify_password(with_nul, "pw"));
}

TEST(AuthTest, InteractiveCostHashesAndVerifies) {
    const std::string hash = mud::hash_password("pw", HashCost::interactive);
    EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
    EXPECT_NE(hash.find("$m=65536,t=2,p=1$"), std::string::npos) << hash;
    EXPECT_TRUE(mud::verify_password(hash, "pw"));
    EXPECT_FALSE(mud::verify_password(hash, "pW"));
}

TEST(AuthTest, TokensAre64LowercaseHexCharactersAndDiffer) {
    const std::string first = mud::random_token();
    const std::string second = mud::random_token();
    EXPECT_EQ(first.size(), 64u);
    EXPECT_EQ(second.size(), 64u);
    EXPECT_TRUE(is_lower_hex(first)) << first;
    EXPECT_TRUE(is_lower_hex(second)) << second;
    EXPECT_NE(first, second);
}

TEST(AuthTest, ParseHashCostKnowsTheThreeNames) {
    EXPECT_EQ(mud::parse_hash_cost("interactive"), HashCost::interactive);
    EXPECT_EQ(mud::parse_hash_cost("moderate"), HashCost::moderate);
    EXPECT_EQ(mud::parse_hash_cost("min"), HashCost::min);
    EXPECT_EQ(mud::parse_hash_cost(""), std::nullopt);
    EXPECT_EQ(mud::parse_hash_cost("Interactive"), std::nullopt);
    EXPECT_EQ(mud::parse_hash_cost("fast"), std::nullopt);
}

}  // namespace

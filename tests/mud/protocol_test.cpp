// The wire format: inbound parsing (simdjson) and outbound building, pure functions.
#include "protocol.hpp"

#include <gtest/gtest.h>

using namespace mud;

namespace {

Inbound ok(std::string_view data) {
    auto r = parse_inbound(data);
    EXPECT_TRUE(std::holds_alternative<Inbound>(r)) << data;
    return std::holds_alternative<Inbound>(r) ? std::get<Inbound>(r) : Inbound{};
}

std::string code(std::string_view data) {
    auto r = parse_inbound(data);
    return std::holds_alternative<ProtocolError>(r) ? std::get<ProtocolError>(r).code : "accepted";
}

}  // namespace

TEST(Protocol, ParsesATextCommand) {
    auto in = ok(R"(["text",["look"],{}])");
    EXPECT_EQ(in.cmd, "text");
    ASSERT_EQ(in.args.size(), 1u);
    EXPECT_EQ(in.args[0], "look");
    EXPECT_TRUE(in.arg_is_string[0]);
    EXPECT_EQ(in.kwargs, "{}");
}

TEST(Protocol, DecodesEscapesAndUnicode) {
    auto in = ok(R"(["text",["say \"hi\" \u00e9\ud83d\ude00"],{}])");
    EXPECT_EQ(in.args[0], "say \"hi\" \xc3\xa9\xf0\x9f\x98\x80");
}

TEST(Protocol, KeepsNonStringArgumentsAsJsonAndMinifiesKwargs) {
    auto in = ok(R"([ "ping" , [1, {"a": 2}] , {"t" : 123, "x": [1, 2]} ])");
    ASSERT_EQ(in.args.size(), 2u);
    EXPECT_FALSE(in.arg_is_string[0]);
    EXPECT_EQ(in.args[0], "1");
    EXPECT_EQ(in.args[1], R"({"a":2})");
    EXPECT_EQ(in.kwargs, R"({"t":123,"x":[1,2]})");
}

TEST(Protocol, RejectsMalformedJson) {
    EXPECT_EQ(code("{bad"), "bad_json");
    EXPECT_EQ(code(""), "bad_json");
    EXPECT_EQ(code("[\"text\",[\"look\"],{}"), "bad_json");
    EXPECT_EQ(code("\xff\xfe"), "bad_json");
}

TEST(Protocol, RejectsTheWrongShape) {
    EXPECT_EQ(code("[]"), "bad_message");
    EXPECT_EQ(code("{}"), "bad_message");
    EXPECT_EQ(code(R"(["text"])"), "bad_message");
    EXPECT_EQ(code(R"(["text","look",{}])"), "bad_message");
    EXPECT_EQ(code(R"(["text",["look"],[]])"), "bad_message");
    EXPECT_EQ(code(R"([1,["look"],{}])"), "bad_message");
    EXPECT_EQ(code(R"(["text",["look"],{},1])"), "bad_message");
}

TEST(Protocol, BuildsCompactArraysWithEscapedStrings) {
    auto msg = Out("text").arg("Al says, \"hi\"\n").kw("type", "say").kw("hp", 7).kw("admin", false).str();
    EXPECT_EQ(msg, R"(["text",["Al says, \"hi\"\n"],{"type":"say","hp":7,"admin":false}])");
    EXPECT_EQ(Out("pong").str(), R"(["pong",[],{}])");
    EXPECT_EQ(Out("room").kw_strings("exits", {"north", "up"}).str(), R"(["room",[],{"exits":["north","up"]}])");
}

TEST(Protocol, ReplacesInvalidUtf8InOutput) {
    auto msg = text_message("info", {"bad \xff byte"});
    EXPECT_EQ(msg, "[\"text\",[\"bad \xef\xbf\xbd byte\"],{\"type\":\"info\"}]");
}

TEST(Protocol, OutputParsesBackAsInput) {
    auto msg = error_message("too_long", "That line is too long.");
    auto in = ok(msg);
    EXPECT_EQ(in.cmd, "error");
    EXPECT_EQ(in.args[0], "That line is too long.");
    EXPECT_EQ(in.kwargs, R"({"code":"too_long"})");
}

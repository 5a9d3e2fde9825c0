// The HTTP request parser, driven with bytes (no sockets): framing, limits, errors.
#include "dally/web/detail/request_parser.hpp"

#include <gtest/gtest.h>

#include <string>

using dally::web::Method;
using dally::web::detail::ParserLimits;
using dally::web::detail::RequestParser;
using Status = RequestParser::Status;

namespace {

// Feeds `data` in pieces of `piece` bytes until the parser stops needing more.
RequestParser::Step feed_all(RequestParser& p, std::string_view data, std::size_t piece = SIZE_MAX) {
    std::size_t pos = 0;
    RequestParser::Step step{Status::need_more, 0};
    while (pos < data.size()) {
        std::string_view chunk = data.substr(pos, std::min(piece, data.size() - pos));
        step = p.feed(chunk);
        pos += step.consumed;
        if (step.status == Status::expect_continue) continue;
        if (step.status != Status::need_more) break;
    }
    return {step.status, pos};
}

int error_of(std::string_view data, ParserLimits limits = {}) {
    RequestParser p(limits);
    auto step = feed_all(p, data);
    if (step.status != Status::error) return 0;
    return p.error_status();
}

}  // namespace

TEST(RequestParser, ParsesRequestLineHeadersAndQuery) {
    RequestParser p;
    auto step = p.feed("GET /a%20b/c?x=1&y=%41+z HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nAccept: */*\r\n\r\n");
    ASSERT_EQ(step.status, Status::complete);
    auto& r = p.request();
    EXPECT_EQ(r.method, Method::get);
    EXPECT_EQ(r.method_text, "GET");
    EXPECT_EQ(r.target, "/a%20b/c?x=1&y=%41+z");
    EXPECT_EQ(r.path, "/a b/c");
    EXPECT_EQ(r.query, "x=1&y=%41+z");
    EXPECT_EQ(r.query_param("y").value_or("?"), "A z");
    EXPECT_FALSE(r.query_param("nope").has_value());
    EXPECT_EQ(r.version_minor, 1);
    ASSERT_EQ(r.headers.size(), 3u);
    EXPECT_EQ(r.header("host").value_or(""), "h");
    EXPECT_EQ(r.header("X-EMPTY").value_or("missing"), "");
    EXPECT_EQ(r.header("accept").value_or(""), "*/*");
    EXPECT_TRUE(p.keep_alive());
    EXPECT_FALSE(p.upgrade());
}

TEST(RequestParser, SameResultWhenSplitAtEveryByte) {
    const std::string req =
        "POST /submit?q=1 HTTP/1.1\r\nHost: example\r\nContent-Type: text/plain\r\n"
        "Content-Length: 11\r\n\r\nhello world";
    for (std::size_t piece : {1u, 2u, 3u, 7u, 13u}) {
        RequestParser p;
        auto step = feed_all(p, req, piece);
        ASSERT_EQ(step.status, Status::complete) << "piece " << piece;
        EXPECT_EQ(step.consumed, req.size());
        EXPECT_EQ(p.request().body, "hello world");
        EXPECT_EQ(p.request().header("content-type").value_or(""), "text/plain");
        EXPECT_EQ(p.request().method, Method::post);
    }
}

TEST(RequestParser, PipelinedRequestsComeOutOneAtATime) {
    const std::string two = "GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTTP/1.1\r\nHost: h\r\n\r\n";
    RequestParser p;
    auto step = p.feed(two);
    ASSERT_EQ(step.status, Status::complete);
    EXPECT_EQ(p.request().path, "/one");
    EXPECT_LT(step.consumed, two.size());
    EXPECT_EQ(p.feed(std::string_view(two).substr(step.consumed)).status, Status::complete);  // still parked
    EXPECT_EQ(p.request().path, "/one");
    p.next();
    auto second = p.feed(std::string_view(two).substr(step.consumed));
    ASSERT_EQ(second.status, Status::complete);
    EXPECT_EQ(p.request().path, "/two");
    EXPECT_EQ(step.consumed + second.consumed, two.size());
}

TEST(RequestParser, DecodesChunkedBodies) {
    const std::string req =
        "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
    for (std::size_t piece : {1u, 4u, 1000u}) {
        RequestParser p;
        auto step = feed_all(p, req, piece);
        ASSERT_EQ(step.status, Status::complete);
        EXPECT_EQ(p.request().body, "hello world");
    }
}

TEST(RequestParser, ExpectContinuePausesAfterTheHead) {
    RequestParser p;
    const std::string head = "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    auto step = p.feed(head);
    ASSERT_EQ(step.status, Status::expect_continue);
    EXPECT_EQ(step.consumed, head.size());
    EXPECT_TRUE(p.head_complete());
    EXPECT_EQ(p.feed("abc").status, Status::complete);
    EXPECT_EQ(p.request().body, "abc");
}

TEST(RequestParser, ExpectContinueWithTooLargeBodyIs413) {
    EXPECT_EQ(error_of("PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n",
                       {.max_body_bytes = 10}),
              413);
}

TEST(RequestParser, UnknownExpectationIs417) {
    EXPECT_EQ(error_of("PUT /f HTTP/1.1\r\nHost: h\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx"), 417);
}

TEST(RequestParser, HeaderBlockOverLimitIs431) {
    std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
    EXPECT_EQ(error_of(big, {.max_header_bytes = 16384}), 431);
    // Also when the oversized header arrives in small pieces without ever finishing.
    RequestParser p({.max_header_bytes = 1024});
    auto step = feed_all(p, std::string_view(big).substr(0, 5000), 100);
    EXPECT_EQ(step.status, Status::error);
    EXPECT_EQ(p.error_status(), 431);
}

TEST(RequestParser, TooManyHeadersIs431) {
    std::string req = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 20; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
    req += "\r\n";
    EXPECT_EQ(error_of(req, {.max_headers = 10}), 431);
    EXPECT_EQ(error_of(req, {.max_headers = 21}), 0);
}

TEST(RequestParser, LongUriIs414) {
    std::string req = "GET /" + std::string(9000, 'u') + " HTTP/1.1\r\nHost: h\r\n\r\n";
    EXPECT_EQ(error_of(req, {.max_uri_bytes = 8192}), 414);
}

TEST(RequestParser, BodyOverLimitIs413ForLengthAndChunked) {
    EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", {.max_body_bytes = 10}), 413);
    std::string chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 4; ++i) chunked += "4\r\nabcd\r\n";
    chunked += "0\r\n\r\n";
    EXPECT_EQ(error_of(chunked, {.max_body_bytes = 10}), 413);
    EXPECT_EQ(error_of(chunked, {.max_body_bytes = 16}), 0);
}

TEST(RequestParser, MalformedRequestsAre400) {
    EXPECT_EQ(error_of("garbage\r\n\r\n"), 400);
    EXPECT_EQ(error_of("GET / HTTP/1.1\r\nNo colon here\r\n\r\n"), 400);
    EXPECT_EQ(error_of("GET / HTTP/1.1\r\n\r\n"), 400);  // HTTP/1.1 without Host
    EXPECT_EQ(error_of("GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    EXPECT_EQ(error_of("GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    EXPECT_EQ(error_of("GET nopath HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n"), 400);
    // Both framings at once is the request-smuggling shape: refused.
    EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\n\r\n"),
              400);
    EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 400);
    EXPECT_EQ(error_of("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), 400);
    EXPECT_EQ(error_of("GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n"), 400);
    EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n"), 400);
    EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nName : x\r\n\r\n"), 400);
}

TEST(RequestParser, UnsupportedVersionIs505) {
    EXPECT_EQ(error_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
}

TEST(RequestParser, Http10ClosesUnlessKeepAliveAsked) {
    RequestParser p;
    ASSERT_EQ(p.feed("GET / HTTP/1.0\r\n\r\n").status, Status::complete);
    EXPECT_EQ(p.request().version_minor, 0);
    EXPECT_FALSE(p.keep_alive());
    RequestParser q;
    ASSERT_EQ(q.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").status, Status::complete);
    EXPECT_TRUE(q.keep_alive());
    RequestParser r;
    ASSERT_EQ(r.feed("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").status, Status::complete);
    EXPECT_FALSE(r.keep_alive());
}

TEST(RequestParser, UpgradeStopsAtTheEndOfTheHead) {
    const std::string head =
        "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    const std::string frame = "\x81\x85" "abcdefghi";
    RequestParser p;
    auto step = p.feed(head + frame);
    ASSERT_EQ(step.status, Status::complete);
    EXPECT_TRUE(p.upgrade());
    EXPECT_EQ(step.consumed, head.size());  // the frame bytes belong to the WebSocket
}

TEST(RequestParser, ErrorIsSticky) {
    RequestParser p;
    ASSERT_EQ(p.feed("garbage\r\n\r\n").status, Status::error);
    EXPECT_EQ(p.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status, Status::error);
    EXPECT_FALSE(p.error_message().empty());
}

TEST(RequestParser, ReusedParserForgetsThePreviousRequest) {
    RequestParser p;
    ASSERT_EQ(p.feed("POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi").status, Status::complete);
    p.next();
    ASSERT_EQ(p.feed("GET /b HTTP/1.1\r\nHost: h\r\n\r\n").status, Status::complete);
    EXPECT_EQ(p.request().path, "/b");
    EXPECT_EQ(p.request().query, "");
    EXPECT_EQ(p.request().body, "");
    EXPECT_EQ(p.request().headers.size(), 1u);
}

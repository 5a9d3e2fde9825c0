// Links against an installed dally::web and touches each of its private dependencies, so a
// missing one fails the link: the request parser (llhttp, compiled into libdally_web), the
// WebSocket handshake key (libcrypto) and the server, whose connections run WebSocket
// sessions (wslay). Exits 0 when everything resolved and behaved. Built by
// tests/consumer/check.cmake; listens on loopback only.
#include <dally/dally.hpp>
#include <dally/web/detail/request_parser.hpp>
#include <dally/web/detail/websocket_session.hpp>
#include <dally/web/router.hpp>
#include <dally/web/server.hpp>

#include <cstdio>
#include <utility>

namespace web = dally::web;

static int fail(const char* what) {
    std::fprintf(stderr, "web_consumer: %s\n", what);
    return 1;
}

int main() {
    // RFC 6455 section 1.3's example key and answer.
    if (web::detail::accept_key("dGhlIHNhbXBsZSBub25jZQ==") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
        return fail("accept_key gave the wrong answer");
    }

    web::detail::RequestParser parser;
    auto step = parser.feed("GET /hello?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    if (step.status != web::detail::RequestParser::Status::complete) return fail("request not complete");
    const web::Request& req = parser.request();
    if (req.method != web::Method::get || req.target != "/hello?x=1" || req.path != "/hello") {
        return fail("request parsed wrongly");
    }

    web::Router router;
    router.get("/hello", [](web::Request&) -> dally::Task<web::Response> {
        co_return web::Response::text(200, "hello\n");
    });
    web::Server server(std::move(router));
    if (!server.listen(dally::Address::loopback_v4(0))) return fail("listen on 127.0.0.1:0 failed");
    if (server.port() == 0) return fail("no port bound");
    return 0;
}

// Tests for the WebSocket opening handshake (dally/web/detail/websocket_session.hpp):
// accept_key and check_handshake, which are pure, so no socket is involved.
#include <gtest/gtest.h>

#include <string>

#include "dally/web/detail/websocket_session.hpp"
#include "test_support.hpp"

namespace {

using dally::web::Method;
using dally::web::Request;
using dally::web::WebSocketOptions;
using dally::web::detail::accept_key;
using dally::web::detail::check_handshake;
using dally::web::detail::Handshake;

constexpr const char* rfc_key = "dGhlIHNhbXBsZSBub25jZQ==";

Request upgrade_request(std::string key = rfc_key) {
    Request r;
    r.method = Method::get;
    r.method_text = "GET";
    r.target = r.path = "/chat";
    r.version_minor = 1;
    r.headers.add("Host", "server.example.com");
    r.headers.add("Upgrade", "websocket");
    r.headers.add("Connection", "Upgrade");
    r.headers.add("Sec-WebSocket-Key", std::move(key));
    r.headers.add("Sec-WebSocket-Version", "13");
    return r;
}

// A request with header `name` replaced by `value` (or removed if value is nullptr).
Request with_header(const char* name, const char* value) {
    Request base = upgrade_request();
    Request r = base;
    r.headers.clear();
    for (const auto& h : base.headers) {
        if (dally::web::iequals(h.name, name)) continue;
        r.headers.add(h.name, h.value);
    }
    if (value != nullptr) r.headers.add(name, value);
    return r;
}

std::string header_of(const dally::web::Response& r, std::string_view name) {
    auto v = r.headers().get(name);
    return v ? std::string(*v) : std::string();
}

TEST(AcceptKey, MatchesTheRfc6455Example) {
    EXPECT_EQ(accept_key(rfc_key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, ValidRequestGets101WithTheAcceptKey) {
    Handshake h = check_handshake(upgrade_request(), {});
    ASSERT_TRUE(h.ok);
    EXPECT_EQ(h.response,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    EXPECT_EQ(h.subprotocol, "");
}

TEST(Handshake, HeaderValuesAreCaseInsensitiveAndConnectionIsATokenList) {
    Request r = with_header("Upgrade", "WebSocket");
    EXPECT_TRUE(check_handshake(r, {}).ok);
    r = with_header("Connection", "keep-alive, Upgrade");
    EXPECT_TRUE(check_handshake(r, {}).ok);
    r = with_header("Connection", "UPGRADE");
    EXPECT_TRUE(check_handshake(r, {}).ok);
}

TEST(Handshake, NonGetMethodIs400) {
    Request r = upgrade_request();
    r.method = Method::post;
    Handshake h = check_handshake(r, {});
    EXPECT_FALSE(h.ok);
    EXPECT_EQ(h.reject.status(), 400);
    EXPECT_TRUE(h.response.empty());
}

TEST(Handshake, Http10Is400) {
    Request r = upgrade_request();
    r.version_minor = 0;
    EXPECT_EQ(check_handshake(r, {}).reject.status(), 400);
}

TEST(Handshake, PlainGetWithoutUpgradeIs426NamingWebsocket) {
    Handshake h = check_handshake(with_header("Upgrade", nullptr), {});
    EXPECT_FALSE(h.ok);
    EXPECT_EQ(h.reject.status(), 426);
    EXPECT_EQ(header_of(h.reject, "Upgrade"), "websocket");
    EXPECT_EQ(header_of(h.reject, "Sec-WebSocket-Version"), "13");
}

TEST(Handshake, UpgradeToAnotherProtocolIs400) {
    EXPECT_EQ(check_handshake(with_header("Upgrade", "h2c"), {}).reject.status(), 400);
}

TEST(Handshake, ConnectionWithoutUpgradeTokenIs400) {
    EXPECT_EQ(check_handshake(with_header("Connection", nullptr), {}).reject.status(), 400);
    EXPECT_EQ(check_handshake(with_header("Connection", "keep-alive"), {}).reject.status(), 400);
    EXPECT_EQ(check_handshake(with_header("Connection", "upgraded"), {}).reject.status(), 400);
}

TEST(Handshake, MissingVersionIs400) {
    EXPECT_EQ(check_handshake(with_header("Sec-WebSocket-Version", nullptr), {}).reject.status(),
              400);
}

TEST(Handshake, UnsupportedVersionIs426WithVersion13) {
    for (const char* v : {"8", "12", "14", "13, 8", ""}) {
        Handshake h = check_handshake(with_header("Sec-WebSocket-Version", v), {});
        EXPECT_FALSE(h.ok) << v;
        EXPECT_EQ(h.reject.status(), 426) << v;
        EXPECT_EQ(header_of(h.reject, "Sec-WebSocket-Version"), "13") << v;
    }
}

TEST(Handshake, KeyMustBeBase64Of16Bytes) {
    EXPECT_EQ(check_handshake(with_header("Sec-WebSocket-Key", nullptr), {}).reject.status(), 400);
    for (const char* key : {
             "",                              // empty
             "not base64 at all!",            // not base64
             "AAECAwQFBgcICQoLDA0O",          // 15 bytes
             "AAECAwQFBgcICQoLDA0ODxA=",      // 17 bytes
             "AAECAwQFBgcICQoLDA0ODw",        // 16 bytes without padding
             "AAECAwQFBgcICQoLDA0OD*==",      // a character outside the alphabet
             "AAECAwQFBgcICQoLDA0ODx==",      // non-zero bits after the 16th byte
             "AAECAwQFBgcICQoLDA0ODw==AAAA",  // trailing data
         }) {
        Handshake h = check_handshake(upgrade_request(key), {});
        EXPECT_FALSE(h.ok) << key;
        EXPECT_EQ(h.reject.status(), 400) << key;
    }
    EXPECT_TRUE(check_handshake(upgrade_request("AAECAwQFBgcICQoLDA0ODw=="), {}).ok);
    EXPECT_TRUE(check_handshake(upgrade_request(" AAECAwQFBgcICQoLDA0ODw== "), {}).ok);
}

TEST(Handshake, PicksTheServersFirstPreferenceAmongOfferedSubprotocols) {
    WebSocketOptions options{.subprotocols = {"mud.v2", "mud.v1"}};
    Request r = upgrade_request();
    r.headers.add("Sec-WebSocket-Protocol", "chat, mud.v1");
    r.headers.add("Sec-WebSocket-Protocol", "mud.v2");
    Handshake h = check_handshake(r, options);
    ASSERT_TRUE(h.ok);
    EXPECT_EQ(h.subprotocol, "mud.v2");
    EXPECT_NE(h.response.find("\r\nSec-WebSocket-Protocol: mud.v2\r\n"), std::string::npos)
        << h.response;

    Request only_v1 = upgrade_request();
    only_v1.headers.add("Sec-WebSocket-Protocol", "chat,mud.v1");
    EXPECT_EQ(check_handshake(only_v1, options).subprotocol, "mud.v1");
}

TEST(Handshake, UnsupportedSubprotocolsStillSucceedWithoutOne) {
    WebSocketOptions options{.subprotocols = {"mud.v1"}};
    Request r = upgrade_request();
    r.headers.add("Sec-WebSocket-Protocol", "chat, superchat");
    Handshake h = check_handshake(r, options);
    ASSERT_TRUE(h.ok);
    EXPECT_EQ(h.subprotocol, "");
    EXPECT_EQ(h.response.find("Sec-WebSocket-Protocol"), std::string::npos);
    // A server with no subprotocols never sends one either.
    EXPECT_EQ(check_handshake(r, {}).subprotocol, "");
}

TEST(Handshake, OriginNotInTheAllowListIs403) {
    WebSocketOptions options{.allowed_origins = {"https://mud.example"}};
    Request r = upgrade_request();
    r.headers.add("Origin", "https://evil.example");
    Handshake h = check_handshake(r, options);
    EXPECT_FALSE(h.ok);
    EXPECT_EQ(h.reject.status(), 403);
}

TEST(Handshake, ListedOriginMissingOriginAndEmptyListAreAllowed) {
    WebSocketOptions options{.allowed_origins = {"https://mud.example", "http://127.0.0.1:4000"}};
    Request r = upgrade_request();
    r.headers.add("Origin", "http://127.0.0.1:4000");
    EXPECT_TRUE(check_handshake(r, options).ok);
    EXPECT_TRUE(check_handshake(upgrade_request(), options).ok)
        << "non-browser clients send no Origin";
    Request any = upgrade_request();
    any.headers.add("Origin", "https://anything.example");
    EXPECT_TRUE(check_handshake(any, {}).ok) << "an empty list allows every origin";
}

}  // namespace

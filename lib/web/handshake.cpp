// The WebSocket opening handshake (RFC 6455 section 4.2): validation of the upgrade
// request and the 101 response. Pure: no I/O, so tests and fuzzers drive it directly.
#include <openssl/evp.h>

#include <array>
#include <stdexcept>
#include <string>
#include <string_view>

#include "dally/web/detail/websocket_session.hpp"

namespace dally::web::detail {

namespace {

constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// RFC 6455 4.1: the key is a random 16-byte value, base64-encoded (24 characters with
// "=="). Decoding and re-encoding with libcrypto must give the key back: that rejects bad
// characters, wrong lengths and non-canonical padding bits alike.
bool valid_key(std::string_view key) noexcept {
    if (key.size() != 24) return false;
    unsigned char raw[18];
    if (EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(key.data()), 24) != 18) return false;
    unsigned char again[25];
    EVP_EncodeBlock(again, raw, 16);
    return key == std::string_view(reinterpret_cast<const char*>(again), 24);
}

Response reject(int status, std::string_view why) {
    Response r = Response::text(status, std::string(why) + "\n");
    return r;
}

Handshake failed(Response response) {
    Handshake h;
    h.reject = std::move(response);
    return h;
}

// The first of the server's protocols (in its order of preference) that the client offered
// in any Sec-WebSocket-Protocol header; "" if none.
std::string choose_subprotocol(const Headers& headers, const std::vector<std::string>& supported) {
    for (const std::string& mine : supported) {
        for (const Header& h : headers) {
            if (!iequals(h.name, "Sec-WebSocket-Protocol")) continue;
            std::string_view rest = h.value;
            while (!rest.empty()) {
                std::size_t comma = rest.find(',');
                if (trim_ows(rest.substr(0, comma)) == mine) return mine;
                if (comma == std::string_view::npos) break;
                rest.remove_prefix(comma + 1);
            }
        }
    }
    return {};
}

bool origin_allowed(const Request& request, const std::vector<std::string>& allowed) {
    if (allowed.empty()) return true;
    auto origin = request.header("Origin");
    if (!origin) return true;  // not a browser: Origin protects browsers' users only
    std::string_view o = trim_ows(*origin);
    for (const std::string& a : allowed) {
        if (iequals(a, o)) return true;
    }
    return false;
}

}  // namespace

std::string accept_key(std::string_view client_key) {
    std::string input;
    input.reserve(client_key.size() + websocket_guid.size());
    input.append(client_key);
    input.append(websocket_guid);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_len = 0;
    if (EVP_Digest(input.data(), input.size(), digest.data(), &digest_len, EVP_sha1(), nullptr) !=
        1) {
        throw std::runtime_error("dally::web: SHA-1 failed in libcrypto (EVP_Digest)");
    }
    // base64 of 20 bytes: 28 characters, plus EVP_EncodeBlock's terminating NUL.
    std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> out{};
    int n = EVP_EncodeBlock(out.data(), digest.data(), static_cast<int>(digest_len));
    return std::string(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(n));
}

Handshake check_handshake(const Request& request, const WebSocketOptions& options) {
    // RFC 6455 4.2.1, in order; the first failure decides the status.
    if (request.method != Method::get) return failed(reject(400, "WebSocket upgrade needs GET"));
    if (request.version_minor < 1) return failed(reject(400, "WebSocket upgrade needs HTTP/1.1"));
    if (!request.header("Upgrade")) {
        // A plain GET of a WebSocket endpoint (RFC 7231 6.5.15: name the protocol to use).
        Response r = reject(426, "this is a WebSocket endpoint");
        r.header("Upgrade", "websocket");
        r.header("Sec-WebSocket-Version", "13");
        return failed(std::move(r));
    }
    if (!request.headers.has_token("Upgrade", "websocket")) {
        return failed(reject(400, "Upgrade must be websocket"));
    }
    if (!request.headers.has_token("Connection", "upgrade")) {
        return failed(reject(400, "Connection must contain upgrade"));
    }
    auto version = request.header("Sec-WebSocket-Version");
    if (!version) return failed(reject(400, "missing Sec-WebSocket-Version"));
    if (trim_ows(*version) != "13") {
        Response r = reject(426, "unsupported WebSocket version");
        r.header("Sec-WebSocket-Version", "13");
        return failed(std::move(r));
    }
    auto key = request.header("Sec-WebSocket-Key");
    if (!key || !valid_key(trim_ows(*key))) return failed(reject(400, "invalid Sec-WebSocket-Key"));
    if (!origin_allowed(request, options.allowed_origins)) {
        return failed(reject(403, "origin not allowed"));
    }

    Handshake h;
    h.ok = true;
    h.subprotocol = choose_subprotocol(request.headers, options.subprotocols);
    h.response =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: ";
    h.response += accept_key(trim_ows(*key));
    h.response += "\r\n";
    if (!h.subprotocol.empty()) {
        h.response += "Sec-WebSocket-Protocol: ";
        h.response += h.subprotocol;
        h.response += "\r\n";
    }
    h.response += "\r\n";
    return h;
}

}  // namespace dally::web::detail

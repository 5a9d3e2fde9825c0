// libFuzzer target: the WebSocket handshake, from raw request bytes through the request
// parser into check_handshake() (with subprotocols and an Origin allow-list configured).
// Built and run by scripts/fuzz.sh (clang).
#include "dally/web/detail/request_parser.hpp"
#include "dally/web/detail/websocket_session.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const dally::web::WebSocketOptions options{
        .subprotocols = {"mud.v1", "chat"},
        .allowed_origins = {"http://127.0.0.1:4000"},
    };
    std::string_view input(reinterpret_cast<const char*>(data), size);
    dally::web::detail::RequestParser parser({.max_header_bytes = 8192, .max_headers = 64});
    auto step = parser.feed(input);
    if (step.status != dally::web::detail::RequestParser::Status::complete) return 0;
    auto hs = dally::web::detail::check_handshake(parser.request(), options);
    // Invariants: success carries a 101 response; failure carries a client-error status.
    if (hs.ok && !hs.response.starts_with("HTTP/1.1 101 ")) __builtin_trap();
    if (!hs.ok && (hs.reject.status() < 400 || hs.reject.status() >= 500)) __builtin_trap();
    return 0;
}

// libFuzzer target: the HTTP request path (bytes → RequestParser → Router), in pieces.
//
// The first input byte picks a piece size so the fuzzer also explores split reads; every
// complete request is routed, and the parser is reused for pipelined requests as the
// server does. Built and run by scripts/fuzz.sh (clang).
#include "dally/web/detail/request_parser.hpp"
#include "dally/web/router.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

const dally::web::Router& router() {
    static const dally::web::Router r = [] {
        dally::web::Router x;
        auto h = [](dally::web::Request&) -> dally::Task<dally::web::Response> {
            co_return dally::web::Response::text(200, "ok");
        };
        x.get("/", h).get("/api/builds/{id}", h).post("/api/builds/{id}/cancel", h).get("/files/{path...}", h);
        return x;
    }();
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::size_t piece = 1 + data[0] % 64;
    std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    dally::web::detail::RequestParser parser({.max_header_bytes = 4096, .max_headers = 32, .max_uri_bytes = 1024,
                                              .max_body_bytes = 4096});
    std::size_t pos = 0;
    while (pos < input.size()) {
        std::string_view chunk = input.substr(pos, piece);
        auto step = parser.feed(chunk);
        pos += step.consumed;
        using S = dally::web::detail::RequestParser::Status;
        if (step.status == S::error) break;
        if (step.status == S::complete) {
            auto& req = parser.request();
            (void)router().match(req);
            (void)req.query_param("x");
            parser.next();
        } else if (step.status == S::need_more && step.consumed < chunk.size()) {
            break;  // the parser must consume everything it does not stop on
        }
    }
    return 0;
}

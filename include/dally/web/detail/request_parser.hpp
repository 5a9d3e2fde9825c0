// A pure HTTP/1.1 request parser over llhttp: bytes in, one Request at a time out.
// Internal to dally::web; unit tests and the fuzzer drive it without sockets.
#pragma once

#include "dally/web/http.hpp"

#include <cstddef>
#include <memory>
#include <string_view>

namespace dally::web::detail {

struct ParserLimits {
    std::size_t max_header_bytes = 16u << 10;
    std::size_t max_headers = 100;
    std::size_t max_uri_bytes = 8u << 10;
    std::size_t max_body_bytes = 1u << 20;
};

class RequestParser {
public:
    enum class Status {
        need_more,        // all input consumed, the request is not complete yet
        expect_continue,  // the head is complete and asks for 100-continue; feed() again to go on
        complete,         // request() holds a whole request; call next() before feeding more
        error,            // error_status()/error_message() say why; the connection must close
    };
    struct Step {
        Status status;
        std::size_t consumed;  // bytes of the input used by this step
    };

    explicit RequestParser(ParserLimits limits = {});
    ~RequestParser();
    RequestParser(const RequestParser&) = delete;
    RequestParser& operator=(const RequestParser&) = delete;

    // Parses `data` up to the end of one request (or the 100-continue point). Bytes after
    // a complete request are not consumed: feed them again after next().
    Step feed(std::string_view data);
    // Clears the finished request and readies the parser for the next one.
    void next();

    Request& request() noexcept;
    // Whether the head has been fully received for the request being parsed.
    bool head_complete() const noexcept;
    // Whether any byte of the current request has been seen.
    bool started() const noexcept;
    // After complete: whether the connection may stay open (HTTP/1.1 default, Connection).
    bool keep_alive() const noexcept;
    // After complete: the request asked to upgrade (Connection: upgrade + Upgrade).
    bool upgrade() const noexcept;
    // After error: the status to answer with (400, 413, 414, 431, 501, 505).
    int error_status() const noexcept;
    std::string_view error_message() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace dally::web::detail

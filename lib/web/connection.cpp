// One HTTP/1.1 connection: read, parse, route, respond, repeat.
//
// Pipelined requests are answered in order and their responses batched into one write: a
// response is flushed when no further complete request is already buffered.
#include "web/connection.hpp"

#include "dally/time.hpp"
#include "dally/web/detail/request_parser.hpp"
#include "dally/web/detail/websocket_session.hpp"

#include <fmt/format.h>

#include <sys/socket.h>

#include <ctime>
#include <cstdio>
#include <exception>

namespace dally::web::detail {

namespace {

constexpr std::size_t read_chunk = 16u << 10;
// Pipelined responses are written once this much is pending.
constexpr std::size_t max_batch = 64u << 10;

// The Date header value, formatted once per second per thread.
std::string_view http_date() noexcept {
    thread_local std::time_t cached_sec = 0;
    thread_local char buf[40] = {};
    thread_local std::size_t len = 0;
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != cached_sec) {
        cached_sec = ts.tv_sec;
        std::tm tm{};
        ::gmtime_r(&cached_sec, &tm);
        len = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    }
    return {buf, len};
}

bool status_has_body(int status) noexcept { return status >= 200 && status != 204 && status != 304; }

// Appends the status line and the server's headers (not Content-Length/Transfer-Encoding).
void append_head(std::string& out, const Response& r, const ServerOptions& options, bool close, bool http10 = false) {
    int status = r.status();
    std::string_view reason = reason_phrase(status);
    out += "HTTP/1.1 ";
    fmt::format_to(std::back_inserter(out), "{} {}\r\n", status, reason.empty() ? "Unknown" : reason);
    if (!options.server_name.empty()) {
        out += "Server: ";
        out += options.server_name;
        out += "\r\n";
    }
    out += "Date: ";
    out += http_date();
    out += "\r\n";
    for (const Header& h : r.headers()) {
        out += h.name;
        out += ": ";
        out += h.value;
        out += "\r\n";
    }
    if (close) {
        out += "Connection: close\r\n";
    } else if (http10) {
        out += "Connection: keep-alive\r\n";  // HTTP/1.0 closes unless told otherwise
    }
}

// A complete in-memory response.
void append_response(std::string& out, const Response& r, const ServerOptions& options, bool head_only, bool close,
                     bool http10 = false) {
    append_head(out, r, options, close, http10);
    if (status_has_body(r.status())) {
        fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n\r\n", r.body().size());
        if (!head_only) out += r.body();
    } else {
        out += "\r\n";
    }
}

std::string error_response(int status, std::string_view message, const ServerOptions& options) {
    Response r = Response::text(status, fmt::format("{}\n", message));
    std::string out;
    append_response(out, r, options, false, true);
    return out;
}

// The chunked (or, for HTTP/1.0, close-delimited) body of a streamed response.
class ChunkWriter final : public BodyWriter {
public:
    ChunkWriter(TcpStream& stream, std::chrono::milliseconds timeout, bool chunked) noexcept
        : m_stream(stream), m_timeout(timeout), m_chunked(chunked) {}

    Task<Result<void>> write(std::string_view data) override {
        if (m_failed) co_return m_failed;
        if (data.empty()) co_return Result<void>{};
        m_buf.clear();
        if (m_chunked) fmt::format_to(std::back_inserter(m_buf), "{:x}\r\n", data.size());
        m_buf.append(data);
        if (m_chunked) m_buf += "\r\n";
        auto sent = co_await timeout(m_timeout, m_stream.send_all(m_buf));
        if (!sent) m_failed = sent.error();
        co_return m_failed ? Result<void>(m_failed) : Result<void>{};
    }

    Task<Result<void>> finish() {
        if (m_failed) co_return m_failed;
        if (!m_chunked) co_return Result<void>{};
        auto sent = co_await timeout(m_timeout, m_stream.send_all(std::string_view("0\r\n\r\n")));
        if (!sent) co_return sent.error();
        co_return Result<void>{};
    }

    bool failed() const noexcept { return static_cast<bool>(m_failed); }

private:
    TcpStream& m_stream;
    std::chrono::milliseconds m_timeout;
    bool m_chunked;
    std::string m_buf;
    std::error_code m_failed;
};

// Runs the handler; an escaping exception becomes a 500 (and a line on stderr).
Task<Response> call_handler(const Handler& handler, Request& request) {
    try {
        co_return co_await handler(request);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dally::web: handler for %s %s threw: %s\n", request.method_text.c_str(),
                     request.target.c_str(), e.what());
    } catch (...) {
        std::fprintf(stderr, "dally::web: handler for %s %s threw a non-exception\n", request.method_text.c_str(),
                     request.target.c_str());
    }
    co_return Response::error(500, "internal server error");
}

struct ConnGuard {
    ServeState& state;
    ConnEntry entry;
    ConnGuard(ServeState& s, int fd) : state(s) {
        entry.fd = fd;
        state.link(entry);
    }
    ~ConnGuard() {
        state.unlink(entry);
        state.shared.open.fetch_sub(1, std::memory_order_relaxed);
    }
};

}  // namespace

Task<void> refuse_connection(TcpStream stream, std::string response) {
    (void)co_await timeout(std::chrono::seconds(1), stream.send_all(response));
    (void)co_await stream.close();
}

Task<void> serve_connection(std::shared_ptr<ServeState> state, TcpStream stream) {
    ServerShared& shared = state->shared;
    const ServerOptions& options = shared.options;
    ConnGuard guard(*state, stream.fd());
    (void)stream.set_nodelay(true);

    RequestParser parser({.max_header_bytes = options.max_header_bytes,
                          .max_headers = options.max_headers,
                          .max_uri_bytes = options.max_uri_bytes,
                          .max_body_bytes = options.max_body_bytes});
    Request& request = parser.request();
    Address peer;
    if (auto p = stream.peer_address()) peer = *p;

    std::string in(read_chunk, '\0');
    std::size_t in_begin = 0;
    std::size_t in_end = 0;
    std::string out;
    Clock::time_point head_deadline{};
    Clock::time_point body_deadline{};

    // Deadlines are enforced by the runtime's sweeper (ServeState::sweep), not by a
    // linked timeout per operation: on loopback-speed traffic the linked timeouts' kernel
    // locking was ~8% of the server's CPU.
    ConnEntry& entry = guard.entry;
    auto flush = [&]() -> Task<bool> {
        if (out.empty()) co_return true;
        entry.writing = true;
        entry.deadline = Clock::now() + options.write_timeout;
        auto sent = co_await stream.send_all(out);
        entry.deadline = Clock::time_point::max();
        entry.writing = false;
        out.clear();
        co_return sent && !entry.expired;
    };

    // After an error response: half-close, then read and discard until the client closes
    // or linger_timeout passes (the sweeper shuts the read side then).
    auto linger = [&]() -> Task<void> {
        if (::shutdown(stream.fd(), SHUT_WR) != 0) co_return;
        entry.idle = false;
        entry.writing = false;
        entry.deadline = Clock::now() + options.linger_timeout;
        if (in.size() < read_chunk) in.resize(read_chunk);
        while (!entry.expired) {
            auto n = co_await stream.recv(std::span<char>(in.data(), in.size()));
            if (!n || *n == 0) break;
        }
        entry.deadline = Clock::time_point::max();
    };

    for (;;) {
        auto step = parser.feed(std::string_view(in.data() + in_begin, in_end - in_begin));
        in_begin += step.consumed;
        if (in_begin == in_end) in_begin = in_end = 0;

        if (step.status == RequestParser::Status::need_more) {
            if (!out.empty() && !co_await flush()) co_return;
            if (state->draining && !parser.started()) co_return;
            // Wait for more bytes, under the deadline that applies to where we are.
            Clock::time_point now = Clock::now();
            Clock::time_point deadline;
            bool idle = !parser.started();
            if (idle) {
                deadline = now + options.idle_timeout;
            } else if (!parser.head_complete()) {
                if (head_deadline == Clock::time_point{}) head_deadline = now + options.header_timeout;
                deadline = head_deadline;
            } else {
                if (body_deadline == Clock::time_point{}) body_deadline = now + options.body_timeout;
                deadline = body_deadline;
            }
            if (in_end == in.size()) {
                // The parser consumes all it is given, so a full buffer only happens after a
                // pause; make room rather than grow.
                in.erase(0, in_begin);
                in.resize(read_chunk > in.size() ? read_chunk : in.size() + read_chunk);
                in_end -= in_begin;
                in_begin = 0;
            }
            entry.idle = idle;
            entry.deadline = deadline;
            auto n = co_await stream.recv(std::span<char>(in.data() + in_end, in.size() - in_end));
            entry.deadline = Clock::time_point::max();
            entry.idle = false;
            if (entry.expired) {
                // The sweeper shut our read side: a slow head or body gets 408, an idle
                // keep-alive connection just closes.
                if (!idle) {
                    shared.rejected.fetch_add(1, std::memory_order_relaxed);
                    out = error_response(408, "request timeout", options);
                    entry.expired = false;
                    if (co_await flush()) co_await linger();
                }
                co_return;
            }
            if (!n) co_return;
            if (*n == 0) co_return;  // peer closed (or drain() shut an idle connection)
            if (idle) head_deadline = Clock::now() + options.header_timeout;
            in_end += *n;
            continue;
        }

        if (step.status == RequestParser::Status::error) {
            shared.rejected.fetch_add(1, std::memory_order_relaxed);
            out += error_response(parser.error_status(), parser.error_message(), options);
            if (co_await flush()) co_await linger();
            co_return;
        }

        if (step.status == RequestParser::Status::expect_continue) {
            out += "HTTP/1.1 100 Continue\r\n\r\n";
            if (!co_await flush()) co_return;
            body_deadline = Clock::now() + options.body_timeout;
            continue;
        }

        // A complete request.
        shared.requests.fetch_add(1, std::memory_order_relaxed);
        head_deadline = body_deadline = Clock::time_point{};
        request.peer = peer;
        bool keep_alive = parser.keep_alive() && !state->draining;
        bool head_only = request.method == Method::head;
        Router::Match match = shared.router.match(request);

        if (match.websocket != nullptr) {
            Handshake hs = check_handshake(request, match.websocket->options);
            if (!hs.ok) {
                shared.rejected.fetch_add(1, std::memory_order_relaxed);
                append_response(out, hs.reject, options, head_only, true);
                (void)co_await flush();
                co_return;
            }
            out += hs.response;
            if (!co_await flush()) co_return;
            std::string leftover(in.data() + in_begin, in_end - in_begin);
            // The session has its own buffers. (Assigning an empty string would keep the
            // capacity: 16 KiB held for the life of every WebSocket.)
            std::string().swap(in);
            std::string().swap(out);
            shared.websockets.fetch_add(1, std::memory_order_relaxed);
            co_await run_websocket(stream, std::move(leftover), request, *match.websocket, std::move(hs.subprotocol),
                                   &guard.entry.socket);
            guard.entry.socket.reset();
            shared.websockets.fetch_sub(1, std::memory_order_relaxed);
            co_return;
        }

        Response response;
        if (match.handler != nullptr) {
            response = co_await call_handler(*match.handler, request);
        } else if (match.status == 405) {
            response = Response::text(405, "method not allowed\n");
            response.header("Allow", match.allow);
        } else {
            response = Response::text(404, "not found\n");
        }
        if (response.closes_connection() || state->draining) keep_alive = false;

        if (response.producer()) {
            // Streamed: chunked for HTTP/1.1, close-delimited for HTTP/1.0.
            bool chunked = request.version_minor >= 1;
            if (!chunked) keep_alive = false;
            append_head(out, response, options, !keep_alive);
            if (chunked && status_has_body(response.status())) out += "Transfer-Encoding: chunked\r\n";
            out += "\r\n";
            if (!co_await flush()) co_return;
            if (!head_only && status_has_body(response.status())) {
                ChunkWriter writer(stream, options.write_timeout, chunked);
                try {
                    co_await response.producer()(writer);
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "dally::web: body producer for %s threw: %s\n", request.target.c_str(), e.what());
                    co_return;  // the client sees a truncated chunked body, i.e. an error
                }
                if (writer.failed() || !co_await writer.finish()) co_return;
            }
        } else {
            append_response(out, response, options, head_only, !keep_alive, request.version_minor == 0);
        }

        if (!keep_alive) {
            // Pipelined requests after this one are not answered: linger so that the
            // client still gets this response rather than a reset.
            if (co_await flush() && in_begin != in_end) co_await linger();
            co_return;
        }
        parser.next();
        // More pipelined bytes buffered? Parse them before writing (one write per batch),
        // unless the batch is already large.
        if ((in_begin == in_end || out.size() >= max_batch) && !co_await flush()) co_return;
    }
}

}  // namespace dally::web::detail

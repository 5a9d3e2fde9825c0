// http_client.hpp: the small blocking HTTP/1.1 client that the build_runner CLI talks to the
// server with. Plain POSIX sockets, one connection per request (`Connection: close`), a
// connect timeout and a read timeout, responses parsed by llhttp. No TLS: the server listens
// on loopback by default, so only http:// URLs are accepted.
//
//     auto r = br::http::request("GET", "http://127.0.0.1:8080/api/builds/12");
//     if (r.status == 200) use(r.body);
//     br::http::read_events("http://127.0.0.1:8080/api/events/stream?package=3", {},
//                           [](const br::http::Event& e) { return e.event != "done"; });
//
// Transport failures (bad URL, nothing listening, timeouts, a malformed or cut-off response)
// throw HttpError, whose message is ready to show to a user. An HTTP error status is not a
// failure here: the caller gets the response and decides. Exceptions rather than a result
// value because the CLI reacts to every transport failure the same way (print, exit 3), at
// one place, however deep in a command it happened.
#pragma once

#include <chrono>
#include <cstdint>
#include <dally/web/http.hpp>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace br::http {

enum class ErrorKind : std::uint8_t {
    bad_url,      // not http://host[:port][/path]
    unreachable,  // name did not resolve, connection refused, no route
    timeout,      // connecting, sending, or silence while reading took too long
    malformed,    // the bytes received are not an HTTP/1.x response (llhttp said why)
    closed,       // the server closed the connection before the response ended
    too_large,    // the response head or a buffered body exceeded its limit
    io,           // any other socket error
};

// A transport failure; what() is a complete sentence naming the server.
class HttpError : public std::runtime_error {
  public:
    HttpError(ErrorKind kind, const std::string& message)
        : std::runtime_error(message), m_kind(kind) {}
    ErrorKind kind() const noexcept { return m_kind; }

  private:
    ErrorKind m_kind;
};

// An http:// URL, split.
struct Url {
    std::string host;  // a name, an IPv4 literal, or an IPv6 literal without brackets
    std::uint16_t port = 80;
    std::string target = "/";  // path and query, as sent in the request line
    // "http://host:port" (brackets around IPv6), for messages and for joining paths.
    std::string origin() const;
};

// Parses http://host[:port][/path][?query] ("#fragment" dropped). Throws HttpError(bad_url):
// https:// says that the client has no TLS; anything else says what was expected.
Url parse_url(std::string_view text);

// Percent-encodes a query parameter's value (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view s);

struct Options {
    // Connecting (every resolved address together) must finish within this time; zero
    // leaves it to the kernel (about two minutes for a host that never answers).
    std::chrono::milliseconds connect_timeout{5'000};
    // The longest silence while sending or reading; zero waits forever (a followed log of a
    // build with no output). The whole response may take longer as long as bytes keep coming.
    std::chrono::milliseconds read_timeout{30'000};
    // A buffered body larger than this is HttpError(too_large); streamed bodies are unlimited.
    std::size_t max_body_bytes = 256u << 20;
    // Status line plus headers.
    std::size_t max_head_bytes = 64u << 10;
};

struct Response {
    int status = 0;
    dally::web::Headers headers;
    // The whole body (de-chunked). For stream(): empty for a 2xx response (the callback had
    // it), else the error body, buffered.
    std::string body;

    std::optional<std::string_view> header(std::string_view name) const noexcept {
        return headers.get(name);
    }
    bool ok() const noexcept { return status >= 200 && status < 300; }
};

// Sends one request and reads the whole response. `headers` are added to Host, Connection,
// User-Agent and (when there is a body, or for POST/PUT/PATCH) Content-Length. Throws
// HttpError for transport failures (a 4xx/5xx is returned like any response), and
// std::invalid_argument for a header holding a line break or NUL.
Response request(std::string_view method, std::string_view url,
                 const dally::web::Headers& headers = {}, std::string_view body = {},
                 const Options& options = {});

// Receives body bytes as they arrive (one call per piece llhttp hands over; the view is valid
// during the call only). Return false to stop reading: stream() then returns at once.
using BodyCallback = std::function<bool(std::string_view)>;
// Sees a 2xx response's status and headers before any of its body. Return false to stop.
using HeadCallback = std::function<bool(const Response&)>;

// Like request(), but a 2xx response's body goes to `on_body` piece by piece as it arrives
// (a chunked log that follows a running build) instead of into Response::body. A non-2xx
// response's body is buffered into Response::body and neither callback is called. Returns
// when the response ended or a callback returned false; throws HttpError on a transport
// failure (options.read_timeout bounds each silence; zero waits forever). An exception
// thrown by a callback propagates out of stream().
Response stream(std::string_view method, std::string_view url, const dally::web::Headers& headers,
                std::string_view body, const BodyCallback& on_body, const Options& options = {},
                const HeadCallback& on_head = {});

// One Server-Sent Event.
struct Event {
    std::string event = "message";  // the `event:` field, "message" if none was given
    std::string data;               // the `data:` lines joined with '\n'
    std::string id;                 // the `id:` field ("" if none)
};

// A text/event-stream parser: bytes in, events out, no I/O (so tests can feed it any
// split). Follows the WHATWG rules: lines end in CRLF, LF or CR; a line starting with ':'
// is a comment; "field: value" loses one space after the colon; a blank line dispatches
// the event, unless it has no data.
class EventParser {
  public:
    // Return false to stop: feed() then returns false too and ignores the rest.
    using Handler = std::function<bool(const Event&)>;
    // Parses `bytes`, calling `handler` for every complete event. Partial lines are kept
    // for the next call.
    bool feed(std::string_view bytes, const Handler& handler);

  private:
    bool line(std::string_view text, const Handler& handler);

    std::string m_line;       // the unfinished line
    bool m_after_cr = false;  // the last byte was a CR: a following LF belongs to it
    bool m_started = false;   // the byte-order mark, if any, has been skipped
    Event m_event;
    bool m_has_data = false;
};

// GETs `url` as an event stream (Accept: text/event-stream) and calls `on_event` for each
// event until the server ends the stream or a callback returns false. `on_head` runs once
// the stream is open, before any event (to catch up on what happened before it). Returns
// the response (status and headers; a non-2xx response's body buffered, and no event
// delivered). Throws HttpError like stream().
Response read_events(std::string_view url, const dally::web::Headers& headers,
                     const EventParser::Handler& on_event, const Options& options = {},
                     const HeadCallback& on_head = {});

}  // namespace br::http

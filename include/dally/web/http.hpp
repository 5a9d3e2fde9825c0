// dally/web/http.hpp: HTTP/1.1 request and response values for dally::web.
//
// A Request is what the server parsed (owned strings; valid for the whole handler call).
// A Response is what a handler returns: a status, headers and either a body held in
// memory, a chunked stream produced by a coroutine (live logs), or Server-Sent Events.
// Content-Length, Date, Server and Connection are added by the server; do not set them.
//
//     router.get("/hello/{name}", [](web::Request& req) -> Task<web::Response> {
//         co_return web::Response::text(200, fmt::format("hi {}\n", req.param("name")));
//     });
#pragma once

#include "dally/net.hpp"
#include "dally/result.hpp"
#include "dally/task.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dally::web {

enum class Method : std::uint8_t { get, head, post, put, patch, del, options, other };

// "GET", "POST", ... ("OTHER" for Method::other).
std::string_view method_name(Method m) noexcept;
// The standard reason phrase of `status` ("Not Found"), or "" if unknown.
std::string_view reason_phrase(int status) noexcept;
// `s` without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view trim_ows(std::string_view s) noexcept;
// Case-insensitive ASCII comparison, as header names require.
bool iequals(std::string_view a, std::string_view b) noexcept;
// Decodes %XX escapes (and '+' as space when `plus_is_space`); nullopt if an escape is
// malformed or decodes to NUL.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space = false);
// The content type for a file name's extension ("application/octet-stream" if unknown).
std::string_view content_type_for(std::string_view filename) noexcept;

struct Header {
    std::string name;
    std::string value;
};

// An ordered header list with case-insensitive lookup.
class Headers {
public:
    // The first value of `name`, if present.
    std::optional<std::string_view> get(std::string_view name) const noexcept;
    // True if `name` is present and its comma-separated value list contains `token`
    // (case-insensitive), e.g. has_token("Connection", "upgrade").
    bool has_token(std::string_view name, std::string_view token) const noexcept;
    Header& add(std::string name, std::string value) {
        m_list.push_back({std::move(name), std::move(value)});
        return m_list.back();
    }
    // Replaces every value of `name` with one.
    void set(std::string_view name, std::string value);
    void clear() noexcept { m_list.clear(); }
    bool empty() const noexcept { return m_list.empty(); }
    std::size_t size() const noexcept { return m_list.size(); }
    auto begin() const noexcept { return m_list.begin(); }
    auto end() const noexcept { return m_list.end(); }

private:
    std::vector<Header> m_list;
};

struct Request {
    Method method = Method::get;
    std::string method_text;  // as sent, e.g. "GET"
    std::string target;       // the raw request target, e.g. "/a%20b?x=1"
    std::string path;         // the target's path, percent-decoded
    std::string query;        // the raw query string after '?', without it
    int version_minor = 1;    // HTTP/1.<minor>
    Headers headers;
    std::string body;         // the whole body (de-chunked)
    Address peer;
    // Route parameters ("{id}" segments), filled by the router.
    std::vector<std::pair<std::string, std::string>> params;

    // The route parameter `name`, or "" if none.
    std::string_view param(std::string_view name) const noexcept;
    // The decoded query parameter `name` (first occurrence), if present.
    std::optional<std::string> query_param(std::string_view name) const;
    std::optional<std::string_view> header(std::string_view name) const noexcept { return headers.get(name); }
    // Resets for reuse, keeping capacity.
    void clear() noexcept;
};

// Writes a chunked response body; each write() is sent as one chunk. Owned by the
// server; valid for the duration of the producer coroutine.
class BodyWriter {
public:
    virtual ~BodyWriter() = default;
    // Sends `data` as one chunk (empty data is a no-op). An error means the client went
    // away or was too slow (the write timeout); the producer should return.
    virtual Task<Result<void>> write(std::string_view data) = 0;
};

// Writes Server-Sent Events (text/event-stream) on top of a BodyWriter.
class EventStream {
public:
    explicit EventStream(BodyWriter& body) noexcept : m_body(body) {}
    // Sends one event; `data` may contain newlines (each line becomes a data: field).
    Task<Result<void>> send(std::string_view data, std::string_view event = {}, std::string_view id = {});
    // Sends a comment line, which keeps proxies from timing the stream out.
    Task<Result<void>> comment(std::string_view text);

private:
    BodyWriter& m_body;
};

using BodyProducer = std::function<Task<void>(BodyWriter&)>;
using EventProducer = std::function<Task<void>(EventStream&)>;

class Response {
public:
    Response() = default;
    explicit Response(int status) : m_status(status) {}

    // A body held in memory, with the given content type.
    static Response text(int status, std::string body, std::string_view content_type = "text/plain; charset=utf-8");
    // `body` must be a serialized JSON value (see dally/web/json.hpp).
    static Response json(int status, std::string body);
    // {"error": message} with the given status.
    static Response error(int status, std::string_view message);
    // A chunked body produced by `producer` while the connection stays open.
    static Response stream(std::string_view content_type, BodyProducer producer);
    // text/event-stream produced by `producer`.
    static Response events(EventProducer producer);

    int status() const noexcept { return m_status; }
    Response& status(int s) noexcept {
        m_status = s;
        return *this;
    }
    Response& header(std::string name, std::string value) {
        m_headers.add(std::move(name), std::move(value));
        return *this;
    }
    const Headers& headers() const noexcept { return m_headers; }
    Headers& headers() noexcept { return m_headers; }
    const std::string& body() const noexcept { return m_body; }
    std::string& body() noexcept { return m_body; }
    const BodyProducer& producer() const noexcept { return m_producer; }
    // Closes the connection after this response.
    Response& close_connection() noexcept {
        m_close = true;
        return *this;
    }
    bool closes_connection() const noexcept { return m_close; }

private:
    int m_status = 200;
    Headers m_headers;
    std::string m_body;
    BodyProducer m_producer;
    bool m_close = false;
};

}  // namespace dally::web

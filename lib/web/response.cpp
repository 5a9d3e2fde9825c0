#include "dally/web/http.hpp"
#include "dally/web/json.hpp"

#include <fmt/format.h>

namespace dally::web {

Response Response::text(int status, std::string body, std::string_view content_type) {
    Response r(status);
    r.m_headers.add("Content-Type", std::string(content_type));
    r.m_body = std::move(body);
    return r;
}

Response Response::json(int status, std::string body) {
    return text(status, std::move(body), "application/json");
}

Response Response::error(int status, std::string_view message) {
    std::string body = "{\"error\":";
    append_json_string(body, message);
    body += "}\n";
    return json(status, std::move(body));
}

Response Response::stream(std::string_view content_type, BodyProducer producer) {
    Response r(200);
    r.m_headers.add("Content-Type", std::string(content_type));
    r.m_headers.add("Cache-Control", "no-cache");
    r.m_producer = std::move(producer);
    return r;
}

Response Response::events(EventProducer producer) {
    // The producer is moved into the body callback; the EventStream wraps the writer.
    return stream("text/event-stream", [producer = std::move(producer)](BodyWriter& body) -> Task<void> {
        EventStream events(body);
        co_await producer(events);
    });
}

Task<Result<void>> EventStream::send(std::string_view data, std::string_view event, std::string_view id) {
    std::string out;
    out.reserve(data.size() + event.size() + id.size() + 32);
    if (!event.empty()) fmt::format_to(std::back_inserter(out), "event: {}\n", event);
    if (!id.empty()) fmt::format_to(std::back_inserter(out), "id: {}\n", id);
    // Every line of data becomes a data: field; CR, LF and CRLF all end a line.
    std::string_view rest = data;
    for (;;) {
        std::size_t eol = rest.find_first_of("\r\n");
        out += "data: ";
        out += rest.substr(0, eol);
        out += '\n';
        if (eol == std::string_view::npos) break;
        std::size_t skip = (rest[eol] == '\r' && eol + 1 < rest.size() && rest[eol + 1] == '\n') ? 2 : 1;
        rest.remove_prefix(eol + skip);
    }
    out += '\n';
    co_return co_await m_body.write(out);
}

Task<Result<void>> EventStream::comment(std::string_view text) {
    std::string out = ": ";
    out.append(text.substr(0, text.find_first_of("\r\n")));
    out += "\n\n";
    co_return co_await m_body.write(out);
}

}  // namespace dally::web

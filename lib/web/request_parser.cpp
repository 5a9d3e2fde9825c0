#include "dally/web/detail/request_parser.hpp"

#include <llhttp.h>

#include <cstring>

namespace dally::web::detail {

namespace {

Method to_method(std::uint8_t m) noexcept {
    switch (m) {
        case HTTP_GET: return Method::get;
        case HTTP_HEAD: return Method::head;
        case HTTP_POST: return Method::post;
        case HTTP_PUT: return Method::put;
        case HTTP_PATCH: return Method::patch;
        case HTTP_DELETE: return Method::del;
        case HTTP_OPTIONS: return Method::options;
        default: return Method::other;
    }
}

}  // namespace

struct RequestParser::Impl {
    ParserLimits limits;
    llhttp_t parser{};
    llhttp_settings_t settings{};
    Request request;
    std::size_t head_bytes = 0;
    Header* current = nullptr;  // the header being received (valid until the next add)
    bool field_open = false;  // a header name is being received (its spans may be split)
    bool started = false;
    bool head_done = false;
    bool complete = false;
    bool expect_continue = false;
    bool continue_reported = false;
    int error_status = 0;
    const char* error_message = "";

    explicit Impl(ParserLimits l) : limits(l) {
        llhttp_settings_init(&settings);
        settings.on_message_begin = [](llhttp_t* p) { return self(p).on_begin(); };
        settings.on_url = [](llhttp_t* p, const char* at, std::size_t n) { return self(p).on_url(at, n); };
        settings.on_method = [](llhttp_t* p, const char* at, std::size_t n) {
            return self(p).on_head_span(self(p).request.method_text, at, n);
        };
        settings.on_header_field = [](llhttp_t* p, const char* at, std::size_t n) { return self(p).on_field(at, n); };
        settings.on_header_field_complete = [](llhttp_t* p) {
            self(p).field_open = false;
            return 0;
        };
        settings.on_header_value = [](llhttp_t* p, const char* at, std::size_t n) { return self(p).on_value(at, n); };
        settings.on_headers_complete = [](llhttp_t* p) { return self(p).on_headers_complete(); };
        settings.on_body = [](llhttp_t* p, const char* at, std::size_t n) { return self(p).on_body(at, n); };
        settings.on_message_complete = [](llhttp_t* p) { return self(p).on_complete(); };
        llhttp_init(&parser, HTTP_REQUEST, &settings);
        parser.data = this;
    }

    static Impl& self(llhttp_t* p) noexcept { return *static_cast<Impl*>(p->data); }

    int fail(int status, const char* message) noexcept {
        error_status = status;
        error_message = message;
        return HPE_USER;
    }

    int count_head(std::size_t n) noexcept {
        head_bytes += n;
        if (head_bytes > limits.max_header_bytes) return fail(431, "request header fields too large");
        return HPE_OK;
    }

    int on_begin() noexcept {
        started = true;
        return HPE_OK;
    }

    int on_url(const char* at, std::size_t n) {
        if (request.target.size() + n > limits.max_uri_bytes) return fail(414, "request URI too long");
        return on_head_span(request.target, at, n);
    }

    int on_head_span(std::string& into, const char* at, std::size_t n) {
        started = true;
        if (int rc = count_head(n); rc != HPE_OK) return rc;
        into.append(at, n);
        return HPE_OK;
    }

    int on_field(const char* at, std::size_t n) {
        if (int rc = count_head(n); rc != HPE_OK) return rc;
        // RFC 9112 5.1: no whitespace in a field name or before its colon (llhttp lets a
        // space through); a server must answer 400.
        for (std::size_t i = 0; i < n; ++i) {
            if (at[i] == ' ' || at[i] == '\t') return fail(400, "whitespace in a header field name");
        }
        if (!field_open) {
            if (request.headers.size() >= limits.max_headers) return fail(431, "too many header fields");
            current = &request.headers.add({}, {});
            field_open = true;
        }
        current->name.append(at, n);
        return HPE_OK;
    }

    int on_value(const char* at, std::size_t n) {
        if (int rc = count_head(n); rc != HPE_OK) return rc;
        if (current == nullptr) return fail(400, "header value without a name");
        current->value.append(at, n);
        return HPE_OK;
    }

    int on_headers_complete() {
        head_done = true;
        request.method = to_method(parser.method);
        if (request.method_text.empty()) request.method_text = llhttp_method_name(static_cast<llhttp_method_t>(parser.method));
        if (parser.http_major != 1) return fail(505, "HTTP version not supported");
        request.version_minor = parser.http_minor;
        if (request.method == Method::other && parser.method == HTTP_CONNECT) return fail(501, "CONNECT is not supported");

        std::string_view target = request.target;
        if (target.empty() || target.front() != '/') {
            // Absolute-form ("http://host/path") is allowed for proxies only; "*" for OPTIONS.
            if (!(target == "*" && request.method == Method::options)) return fail(400, "request target must be a path");
        }
        std::size_t q = target.find('?');
        std::string_view raw_path = target.substr(0, q);
        if (q != std::string_view::npos) request.query.assign(target.substr(q + 1));
        std::size_t hash = request.query.find('#');
        if (hash != std::string::npos) request.query.resize(hash);
        auto decoded = percent_decode(raw_path);
        if (!decoded) return fail(400, "malformed percent-encoding in path");
        request.path = std::move(*decoded);

        if (request.version_minor >= 1 && !request.headers.get("Host")) return fail(400, "missing Host header");
        if ((parser.flags & F_CONTENT_LENGTH) != 0 && parser.content_length > limits.max_body_bytes) {
            return fail(413, "request body too large");
        }
        if (request.version_minor >= 1) {
            if (auto expect = request.headers.get("Expect")) {
                if (!iequals(*expect, "100-continue")) return fail(417, "unsupported Expect");
                bool has_body = (parser.flags & (F_CHUNKED | F_CONTENT_LENGTH)) != 0 &&
                                ((parser.flags & F_CHUNKED) != 0 || parser.content_length > 0);
                if (has_body) {
                    expect_continue = true;
                    return HPE_PAUSED;
                }
            }
        }
        return HPE_OK;
    }

    int on_body(const char* at, std::size_t n) {
        if (request.body.size() + n > limits.max_body_bytes) return fail(413, "request body too large");
        request.body.append(at, n);
        return HPE_OK;
    }

    int on_complete() noexcept {
        complete = true;
        return HPE_PAUSED;
    }

    // Maps a parse error llhttp found itself (limits set error_status in the callbacks).
    void set_llhttp_error(llhttp_errno_t err) noexcept {
        if (error_status != 0) return;
        // A well-formed version other than 1.x is 505; a garbled one ("HTTP/1.x",
        // "HTTP/1.1 extra") is a malformed request line.
        if (err == HPE_INVALID_VERSION && parser.http_major != 1 && parser.http_major != 0) {
            fail(505, "HTTP version not supported");
            return;
        }
        const char* reason = llhttp_get_error_reason(&parser);
        fail(400, reason != nullptr && *reason != '\0' ? reason : "malformed request");
    }
};

RequestParser::RequestParser(ParserLimits limits) : m_impl(std::make_unique<Impl>(limits)) {}
RequestParser::~RequestParser() = default;

RequestParser::Step RequestParser::feed(std::string_view data) {
    Impl& s = *m_impl;
    if (s.error_status != 0) return {Status::error, 0};
    if (s.complete) return {Status::complete, 0};
    if (s.expect_continue && !s.continue_reported) {
        s.continue_reported = true;
        llhttp_resume(&s.parser);
    }
    if (data.empty()) return {Status::need_more, 0};

    llhttp_errno_t err = llhttp_execute(&s.parser, data.data(), data.size());
    std::size_t consumed = data.size();
    if (err != HPE_OK) {
        const char* pos = llhttp_get_error_pos(&s.parser);
        if (pos != nullptr && pos >= data.data() && pos <= data.data() + data.size()) {
            consumed = static_cast<std::size_t>(pos - data.data());
        }
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        if (s.complete) return {Status::complete, consumed};
        if (s.expect_continue && !s.continue_reported) return {Status::expect_continue, consumed};
        // Paused for a reason we did not ask for: treat as more input needed after resuming.
        llhttp_resume(&s.parser);
        return {Status::need_more, consumed};
    }
    if (err != HPE_OK) {
        s.set_llhttp_error(err);
        return {Status::error, consumed};
    }
    return {Status::need_more, consumed};
}

void RequestParser::next() {
    Impl& s = *m_impl;
    s.request.clear();
    s.head_bytes = 0;
    s.field_open = false;
    s.current = nullptr;
    s.started = false;
    s.head_done = false;
    s.complete = false;
    s.expect_continue = false;
    s.continue_reported = false;
    if (llhttp_get_errno(&s.parser) == HPE_PAUSED_UPGRADE) {
        llhttp_resume_after_upgrade(&s.parser);
    } else {
        llhttp_resume(&s.parser);
    }
}

Request& RequestParser::request() noexcept { return m_impl->request; }
bool RequestParser::head_complete() const noexcept { return m_impl->head_done; }
bool RequestParser::started() const noexcept { return m_impl->started; }
bool RequestParser::keep_alive() const noexcept { return llhttp_should_keep_alive(&m_impl->parser) != 0; }
bool RequestParser::upgrade() const noexcept { return m_impl->parser.upgrade != 0; }
int RequestParser::error_status() const noexcept { return m_impl->error_status; }
std::string_view RequestParser::error_message() const noexcept { return m_impl->error_message; }

}  // namespace dally::web::detail

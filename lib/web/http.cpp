#include "dally/web/http.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace dally::web {

std::string_view method_name(Method m) noexcept {
    switch (m) {
        case Method::get: return "GET";
        case Method::head: return "HEAD";
        case Method::post: return "POST";
        case Method::put: return "PUT";
        case Method::patch: return "PATCH";
        case Method::del: return "DELETE";
        case Method::options: return "OPTIONS";
        case Method::other: break;
    }
    return "OTHER";
}

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 206: return "Partial Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 417: return "Expectation Failed";
        case 422: return "Unprocessable Content";
        case 426: return "Upgrade Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "";
    }
}

namespace {
char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return std::nullopt;
            int hi = hex_value(in[i + 1]);
            int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            c = static_cast<char>(hi * 16 + lo);
            if (c == '\0') return std::nullopt;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        out.push_back(c);
    }
    return out;
}

std::string_view content_type_for(std::string_view filename) noexcept {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 24> types{{
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".md", "text/markdown; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".webp", "image/webp"},
        {".ico", "image/x-icon"},
        {".woff", "font/woff"},
        {".woff2", "font/woff2"},
        {".wasm", "application/wasm"},
        {".xml", "application/xml"},
        {".pdf", "application/pdf"},
        {".map", "application/json"},
        {".webmanifest", "application/manifest+json"},
        {".log", "text/plain; charset=utf-8"},
        {".csv", "text/csv; charset=utf-8"},
    }};
    std::size_t dot = filename.rfind('.');
    std::size_t slash = filename.rfind('/');
    if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
        return "application/octet-stream";
    }
    std::string_view ext = filename.substr(dot);
    for (const auto& [e, type] : types) {
        if (iequals(e, ext)) return type;
    }
    return "application/octet-stream";
}

std::optional<std::string_view> Headers::get(std::string_view name) const noexcept {
    for (const Header& h : m_list) {
        if (iequals(h.name, name)) return std::string_view(h.value);
    }
    return std::nullopt;
}

bool Headers::has_token(std::string_view name, std::string_view token) const noexcept {
    for (const Header& h : m_list) {
        if (!iequals(h.name, name)) continue;
        std::string_view rest = h.value;
        while (!rest.empty()) {
            std::size_t comma = rest.find(',');
            std::string_view item = trim_ows(rest.substr(0, comma));
            if (iequals(item, token)) return true;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return false;
}

void Headers::set(std::string_view name, std::string value) {
    std::erase_if(m_list, [&](const Header& h) { return iequals(h.name, name); });
    m_list.push_back({std::string(name), std::move(value)});
}

std::string_view Request::param(std::string_view name) const noexcept {
    for (const auto& [k, v] : params) {
        if (k == name) return v;
    }
    return {};
}

std::optional<std::string> Request::query_param(std::string_view name) const {
    std::string_view rest = query;
    while (!rest.empty()) {
        std::size_t amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        std::size_t eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        auto decoded_key = percent_decode(key, true);
        if (decoded_key && *decoded_key == name) {
            if (eq == std::string_view::npos) return std::string();
            return percent_decode(pair.substr(eq + 1), true);
        }
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

void Request::clear() noexcept {
    method = Method::get;
    method_text.clear();
    target.clear();
    path.clear();
    query.clear();
    version_minor = 1;
    headers.clear();
    body.clear();
    params.clear();
}

}  // namespace dally::web

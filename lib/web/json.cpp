#include "dally/web/json.hpp"

#include "dally/web/detail/utf8.hpp"

#include <cstdint>

namespace dally::web {

namespace {

// Length of the valid UTF-8 sequence at the start of `s`, or 0 if it is invalid (the
// validity rules are detail::is_valid_utf8's, shared with the WebSocket layer).
std::size_t utf8_sequence(std::string_view s) noexcept {
    auto lead = static_cast<std::uint8_t>(s.front());
    std::size_t n = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (n > s.size()) return 0;
    return detail::is_valid_utf8(s.substr(0, n)) ? n : 0;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.reserve(out.size() + s.size() + 2);
    out.push_back('"');
    while (!s.empty()) {
        auto c = static_cast<unsigned char>(s.front());
        if (c >= 0x80) {
            std::size_t n = utf8_sequence(s);
            if (n == 0) {
                out += "\xEF\xBF\xBD";  // U+FFFD for each invalid byte
                s.remove_prefix(1);
            } else {
                out.append(s.substr(0, n));
                s.remove_prefix(n);
            }
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    out += "\\u00";
                    out.push_back(hex[c >> 4]);
                    out.push_back(hex[c & 0xF]);
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
        s.remove_prefix(1);
    }
    out.push_back('"');
}

std::string json_string(std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

}  // namespace dally::web

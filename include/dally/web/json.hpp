// dally/web/json.hpp: writing JSON with fmt, safely.
//
// Responses are formatted with fmt; every string that comes from outside goes through
// json_str, which quotes and escapes it (control characters, quotes, backslashes; invalid
// UTF-8 becomes U+FFFD), so a name or a log line can never break the document:
//
//     auto body = fmt::format(R"({{"id":{},"name":{}}})", id, web::json_str{name});
//
// Request bodies are parsed with simdjson (see docs/web.md for the pattern).
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace dally::web {

// Appends `s` to `out` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view s);
// `s` as a JSON string literal.
std::string json_string(std::string_view s);

// Formats as a JSON string literal with fmt.
struct json_str {
    std::string_view value;
};

}  // namespace dally::web

template <>
struct fmt::formatter<dally::web::json_str> : fmt::formatter<std::string_view> {
    template <class Context>
    auto format(const dally::web::json_str& s, Context& ctx) const {
        std::string quoted = dally::web::json_string(s.value);
        return fmt::formatter<std::string_view>::format(quoted, ctx);
    }
};

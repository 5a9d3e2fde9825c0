// protocol.hpp: the MUD's wire format (docs/mud-protocol.md), pure: bytes in, values out.
// Every message is one compact JSON array ["cmdname", [args...], {kwargs...}]. Inbound
// messages are parsed with simdjson; outbound ones are built with Out, which escapes every
// string (invalid UTF-8 becomes U+FFFD) and writes no spaces.
//
//     send(Out("text").arg("Alice says, \"hi\"").kw("type", "say").kw("from", "Alice").str());
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mud {

struct Inbound {
    std::string cmd;
    std::vector<std::string> args;  // string arguments; a non-string argument is kept as its JSON text
    std::vector<bool> arg_is_string;
    std::string kwargs;             // the kwargs object as compact JSON ("{}" when empty)
};

// Why an inbound message was refused: the error code of docs/mud-protocol.md and a message.
struct ProtocolError {
    std::string code;     // "bad_json" or "bad_message"
    std::string message;
};

std::variant<Inbound, ProtocolError> parse_inbound(std::string_view data);

// Builds one outbound message. Arguments and kwargs are appended in call order.
class Out {
public:
    explicit Out(std::string_view cmd);
    Out& arg(std::string_view s);
    Out& arg_raw(std::string_view json);          // an already-encoded JSON value
    Out& kw(std::string_view key, std::string_view value);
    Out& kw(std::string_view key, const char* value) { return kw(key, std::string_view(value)); }
    Out& kw(std::string_view key, std::int64_t value);
    Out& kw(std::string_view key, int value) { return kw(key, static_cast<std::int64_t>(value)); }
    Out& kw(std::string_view key, bool value);
    Out& kw_strings(std::string_view key, const std::vector<std::string>& values);
    Out& kw_raw(std::string_view key, std::string_view json);
    // Just the kwargs object, "{...}" (to nest objects, e.g. the entries of a list).
    std::string kwargs_str() const;
    std::string str() &&;
    std::string str() const&;

private:
    void begin_kwargs();
    std::string m_args;    // "[\"cmd\",[a,b"
    std::string m_kwargs;  // ",{...", opened lazily
    bool m_first_arg = true;
};

// Convenience for the most common message: one or more output lines of one type.
std::string text_message(std::string_view type, std::initializer_list<std::string_view> lines);
std::string error_message(std::string_view code, std::string_view message);

}  // namespace mud

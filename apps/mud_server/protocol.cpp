#include "protocol.hpp"

#include <dally/web/json.hpp>
#include <fmt/format.h>
#include <simdjson.h>

namespace mud {

std::variant<Inbound, ProtocolError> parse_inbound(std::string_view data) {
    // One parser per thread: the game thread parses every message, and its buffers grow to
    // the largest message seen (bounded by the WebSocket's message limit).
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (auto err = parser.parse(data.data(), data.size()).get(root)) {
        return ProtocolError{"bad_json", fmt::format("Malformed JSON: {}", simdjson::error_message(err))};
    }
    simdjson::dom::array top;
    if (root.get_array().get(top) || top.size() != 3) {
        return ProtocolError{"bad_message", "A message is a JSON array [\"cmdname\", [args], {kwargs}]."};
    }
    std::string_view cmd;
    simdjson::dom::array args;
    simdjson::dom::object kwargs;
    if (top.at(0).get_string().get(cmd) || top.at(1).get_array().get(args) ||
        top.at(2).get_object().get(kwargs)) {
        return ProtocolError{"bad_message", "A message is a JSON array [\"cmdname\", [args], {kwargs}]."};
    }
    Inbound in;
    in.cmd = std::string(cmd);
    in.args.reserve(args.size());
    for (auto a : args) {
        std::string_view s;
        if (a.get_string().get(s) == simdjson::SUCCESS) {
            in.args.emplace_back(s);
            in.arg_is_string.push_back(true);
        } else {
            in.args.push_back(simdjson::minify(a));
            in.arg_is_string.push_back(false);
        }
    }
    in.kwargs = simdjson::minify(kwargs);
    return in;
}

Out::Out(std::string_view cmd) {
    m_args.reserve(64 + cmd.size());
    m_args += '[';
    dally::web::append_json_string(m_args, cmd);
    m_args += ",[";
}

Out& Out::arg(std::string_view s) {
    if (!m_first_arg) m_args += ',';
    m_first_arg = false;
    dally::web::append_json_string(m_args, s);
    return *this;
}

Out& Out::arg_raw(std::string_view json) {
    if (!m_first_arg) m_args += ',';
    m_first_arg = false;
    m_args += json;
    return *this;
}

void Out::begin_kwargs() {
    m_kwargs += m_kwargs.empty() ? '{' : ',';
}

Out& Out::kw(std::string_view key, std::string_view value) {
    begin_kwargs();
    dally::web::append_json_string(m_kwargs, key);
    m_kwargs += ':';
    dally::web::append_json_string(m_kwargs, value);
    return *this;
}

Out& Out::kw(std::string_view key, std::int64_t value) {
    begin_kwargs();
    dally::web::append_json_string(m_kwargs, key);
    fmt::format_to(std::back_inserter(m_kwargs), ":{}", value);
    return *this;
}

Out& Out::kw(std::string_view key, bool value) {
    return kw_raw(key, value ? "true" : "false");
}

Out& Out::kw_strings(std::string_view key, const std::vector<std::string>& values) {
    begin_kwargs();
    dally::web::append_json_string(m_kwargs, key);
    m_kwargs += ":[";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i != 0) m_kwargs += ',';
        dally::web::append_json_string(m_kwargs, values[i]);
    }
    m_kwargs += ']';
    return *this;
}

Out& Out::kw_raw(std::string_view key, std::string_view json) {
    begin_kwargs();
    dally::web::append_json_string(m_kwargs, key);
    m_kwargs += ':';
    m_kwargs += json;
    return *this;
}

std::string Out::kwargs_str() const { return m_kwargs.empty() ? "{}" : m_kwargs + "}"; }

std::string Out::str() const& {
    std::string out = m_args;
    out += "],";
    out += m_kwargs.empty() ? std::string_view("{") : std::string_view(m_kwargs);
    out += "}]";
    return out;
}

std::string Out::str() && {
    m_args += "],";
    if (m_kwargs.empty()) {
        m_args += '{';
    } else {
        m_args += m_kwargs;
    }
    m_args += "}]";
    return std::move(m_args);
}

std::string text_message(std::string_view type, std::initializer_list<std::string_view> lines) {
    Out out("text");
    for (auto line : lines) out.arg(line);
    return std::move(out.kw("type", type)).str();
}

std::string error_message(std::string_view code, std::string_view message) {
    return Out("error").arg(message).kw("code", code).str();
}

}  // namespace mud

#include "world.hpp"

#include <simdjson.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <utility>

namespace mud {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::size_t max_id_bytes = 64;

[[noreturn]] void fail(std::string_view path, std::string_view what) {
    std::string msg(path.empty() ? "top level" : path);
    msg += ": ";
    msg += what;
    throw WorldError(msg);
}

// A value from the file, quoted for an error message: escaped so that a stray quote or control
// character cannot garble the message, and shortened so that a huge string cannot flood it.
std::string quote(std::string_view s) {
    constexpr std::size_t max_shown = 40;
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size() && i < max_shown; ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
            out += '?';
        } else {
            out += static_cast<char>(c);
        }
    }
    if (s.size() > max_shown) out += "...";
    out += '"';
    return out;
}

std::string at_index(std::string_view path, std::size_t i) {
    return std::string(path) + "[" + std::to_string(i) + "]";
}

std::string at_field(std::string_view path, std::string_view key) {
    if (path.empty()) return std::string(key);
    return std::string(path) + "." + std::string(key);
}

const char* type_name(element_type t) {
    switch (t) {
        case element_type::ARRAY:
            return "array";
        case element_type::OBJECT:
            return "object";
        case element_type::INT64:
        case element_type::UINT64:
            return "integer";
        case element_type::DOUBLE:
            return "number";
        case element_type::STRING:
            return "string";
        case element_type::BOOL:
            return "boolean";
        case element_type::NULL_VALUE:
            return "null";
    }
    return "unknown";
}

[[noreturn]] void fail_type(element e, const std::string& path, std::string_view expected) {
    fail(path, "must be " + std::string(expected) + " (got " + type_name(e.type()) + ")");
}

bool is_lower_word(std::string_view s, bool digits, bool underscore) {
    if (s.empty()) return false;
    for (char c : s) {
        bool ok =
            (c >= 'a' && c <= 'z') || (digits && c >= '0' && c <= '9') || (underscore && c == '_');
        if (!ok) return false;
    }
    return true;
}

// The fields of one JSON object, checked against the names the format allows: an unknown name
// is almost always a typo ("desciption"), and a duplicate would silently shadow the first.
class Fields {
  public:
    Fields(element e, std::string path, std::initializer_list<std::string_view> allowed)
        : m_path(std::move(path)) {
        simdjson::dom::object obj;
        if (e.get_object().get(obj) != simdjson::SUCCESS) fail_type(e, display_path(), "an object");
        for (auto [key, value] : obj) {
            bool known = false;
            for (auto name : allowed) known = known || name == key;
            if (!known) fail(display_path(), "unknown field " + quote(key));
            if (get(key)) fail(display_path(), "duplicate field " + quote(key));
            m_fields.emplace_back(key, value);
        }
    }

    std::string at(std::string_view key) const { return at_field(m_path, key); }

    std::optional<element> get(std::string_view key) const {
        for (const auto& [k, v] : m_fields) {
            if (k == key) return v;
        }
        return std::nullopt;
    }

    element require(std::string_view key, std::string_view what) const {
        auto v = get(key);
        if (!v) fail(at(key), "missing (required " + std::string(what) + ")");
        return *v;
    }

  private:
    std::string display_path() const { return m_path.empty() ? "top level" : m_path; }

    std::string m_path;
    std::vector<std::pair<std::string_view, element>> m_fields;
};

std::string_view as_string(element e, const std::string& path) {
    std::string_view s;
    if (e.get_string().get(s) != simdjson::SUCCESS) fail_type(e, path, "a string");
    // simdjson validates the document's bytes; this also covers what \u escapes decode to.
    if (!simdjson::validate_utf8(s.data(), s.size())) fail(path, "must be valid UTF-8");
    return s;
}

// Text shown to players: one line, so no control characters (the protocol sends lines).
std::string as_text(element e, const std::string& path, bool allow_empty = false) {
    auto s = as_string(e, path);
    if (s.empty() && !allow_empty) fail(path, "must not be empty");
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) fail(path, "must not contain control characters");
    }
    return std::string(s);
}

std::string as_id(element e, const std::string& path) {
    auto s = as_string(e, path);
    if (!is_lower_word(s, true, true) || s.size() > max_id_bytes) {
        fail(path, "bad id " + quote(s) + ": must be 1-64 characters of [a-z0-9_]");
    }
    return std::string(s);
}

// `requirement` completes "must be ...", e.g. "a positive integer".
int as_int(element e, const std::string& path, std::int64_t lo, std::int64_t hi,
           std::string_view requirement) {
    auto t = e.type();
    if (t != element_type::INT64 && t != element_type::UINT64) fail_type(e, path, requirement);
    std::int64_t v = 0;
    if (e.get_int64().get(v) != simdjson::SUCCESS || v < lo || v > hi) {
        fail(path, "must be " + std::string(requirement) + " (got " + simdjson::to_string(e) + ")");
    }
    return static_cast<int>(v);
}

bool as_bool(element e, const std::string& path) {
    bool b = false;
    if (e.get_bool().get(b) != simdjson::SUCCESS) fail_type(e, path, "a boolean");
    return b;
}

simdjson::dom::array as_array(element e, const std::string& path) {
    simdjson::dom::array a;
    if (e.get_array().get(a) != simdjson::SUCCESS) fail_type(e, path, "an array");
    return a;
}

std::vector<std::string> as_keywords(element e, const std::string& path) {
    std::vector<std::string> out;
    std::size_t i = 0;
    for (element k : as_array(e, path)) {
        auto p = at_index(path, i++);
        auto s = as_string(k, p);
        if (!is_lower_word(s, true, false)) {
            fail(p, "bad keyword " + quote(s) + ": must be one lowercase word of [a-z0-9]");
        }
        for (const auto& seen : out) {
            if (seen == s) fail(p, "duplicate keyword " + quote(s));
        }
        out.emplace_back(s);
    }
    if (out.empty()) fail(path, "must not be empty");
    return out;
}

// NPC lines may name the player as {name} where there is one (greet, responses), and nothing
// else in braces: a typo like {nmae} would otherwise be shown to players verbatim.
std::string as_npc_line(element e, const std::string& path, bool allow_name,
                        bool allow_empty = false) {
    auto s = as_text(e, path, allow_empty);
    std::string rest = s;
    if (allow_name) {
        for (auto pos = rest.find("{name}"); pos != std::string::npos; pos = rest.find("{name}")) {
            rest.erase(pos, 6);
        }
    }
    if (rest.find_first_of("{}") != std::string::npos) {
        fail(path, allow_name ? "the only placeholder allowed is {name}"
                              : "chatter is said as is: no {...} placeholders");
    }
    return s;
}

// A reference by id, resolved once every room, item and NPC has been read (files may refer
// forward).
struct Ref {
    std::string id;
    std::string path;
};

std::vector<Ref> as_refs(element e, const std::string& path) {
    std::vector<Ref> out;
    std::size_t i = 0;
    for (element v : as_array(e, path)) {
        auto p = at_index(path, i++);
        out.push_back({as_id(v, p), p});
    }
    return out;
}

struct PendingRoom {
    std::vector<Ref> exits;  // parallel to Room::exits
    std::vector<Ref> items;
    std::vector<Ref> npcs;
};

void add_id(std::unordered_map<std::string, std::uint32_t>& index, std::vector<std::string>& paths,
            const std::string& id, const std::string& path) {
    auto [it, inserted] = index.emplace(id, static_cast<std::uint32_t>(paths.size()));
    if (!inserted) {
        fail(path, "duplicate id " + quote(id) + " (first at " + paths[it->second] + ")");
    }
    paths.push_back(path);
}

Room parse_room(element e, const std::string& path, PendingRoom& pending) {
    Fields f(e, path, {"id", "name", "desc", "area", "safe", "exits", "items", "npcs"});
    Room r;
    r.id = as_id(f.require("id", "string"), f.at("id"));
    r.name = as_text(f.require("name", "string"), f.at("name"));
    r.desc = as_text(f.require("desc", "string"), f.at("desc"));
    if (auto v = f.get("area")) {
        auto p = f.at("area");
        r.area = std::string(as_string(*v, p));
        if (!r.area.empty() && !is_lower_word(r.area, true, true)) {
            fail(p, "bad area " + quote(r.area) + ": must be \"\" or [a-z0-9_]+");
        }
    }
    if (auto v = f.get("safe")) r.safe = as_bool(*v, f.at("safe"));
    if (auto v = f.get("exits")) {
        auto p = f.at("exits");
        simdjson::dom::object exits;
        if (v->get_object().get(exits) != simdjson::SUCCESS) fail_type(*v, p, "an object");
        for (auto [dir, to] : exits) {
            if (!is_lower_word(dir, false, false)) {
                fail(p, "bad direction " + quote(dir) + ": must be lowercase letters [a-z]+");
            }
            for (const auto& x : r.exits) {
                if (x.dir == dir) fail(p, "duplicate exit " + quote(dir));
            }
            auto dp = at_field(p, dir);
            r.exits.push_back({std::string(dir), 0});
            pending.exits.push_back({as_id(to, dp), dp});
        }
    }
    if (auto v = f.get("items")) pending.items = as_refs(*v, f.at("items"));
    if (auto v = f.get("npcs")) pending.npcs = as_refs(*v, f.at("npcs"));
    return r;
}

ItemTemplate parse_item(element e, const std::string& path) {
    Fields f(e, path, {"id", "name", "keywords", "desc", "damage", "takeable"});
    ItemTemplate t;
    t.id = as_id(f.require("id", "string"), f.at("id"));
    t.name = as_text(f.require("name", "string"), f.at("name"));
    t.keywords = as_keywords(f.require("keywords", "array"), f.at("keywords"));
    t.desc = as_text(f.require("desc", "string"), f.at("desc"));
    if (auto v = f.get("damage")) {
        t.damage = as_int(*v, f.at("damage"), 0, 1000, "an integer in [0, 1000]");
    }
    if (auto v = f.get("takeable")) t.takeable = as_bool(*v, f.at("takeable"));
    return t;
}

NpcTemplate parse_npc(element e, const std::string& path, std::vector<Ref>& items) {
    Fields f(e, path,
             {"id", "name", "keywords", "desc", "hp", "damage", "aggressive", "wander", "respawn_s",
              "greet", "responses", "chatter", "items"});
    NpcTemplate n;
    n.id = as_id(f.require("id", "string"), f.at("id"));
    n.name = as_text(f.require("name", "string"), f.at("name"));
    n.keywords = as_keywords(f.require("keywords", "array"), f.at("keywords"));
    n.desc = as_text(f.require("desc", "string"), f.at("desc"));
    if (auto v = f.get("hp")) n.hp = as_int(*v, f.at("hp"), 1, 100000, "a positive integer");
    if (auto v = f.get("damage")) {
        auto p = f.at("damage");
        auto a = as_array(*v, p);
        if (a.size() != 2) fail(p, "must be [min, max]");
        constexpr std::string_view req = "an integer in [0, 1000]";
        int bounds[2] = {0, 0};
        std::size_t k = 0;
        for (element b : a) {
            bounds[k] = as_int(b, at_index(p, k), 0, 1000, req);
            ++k;
        }
        n.damage_min = bounds[0];
        n.damage_max = bounds[1];
        if (n.damage_min > n.damage_max) {
            fail(p, "min " + std::to_string(n.damage_min) + " is greater than max " +
                        std::to_string(n.damage_max));
        }
    }
    if (auto v = f.get("aggressive")) n.aggressive = as_bool(*v, f.at("aggressive"));
    if (auto v = f.get("wander")) {
        auto p = f.at("wander");
        if (v->get_double().get(n.wander) != simdjson::SUCCESS) fail_type(*v, p, "a number");
        if (!(n.wander >= 0.0 && n.wander <= 1.0)) {
            fail(p, "must be a number in [0, 1] (got " + simdjson::to_string(*v) + ")");
        }
    }
    if (auto v = f.get("respawn_s")) {
        n.respawn_s = as_int(*v, f.at("respawn_s"), 1, 86400, "an integer in [1, 86400]");
    }
    if (auto v = f.get("greet")) n.greet = as_npc_line(*v, f.at("greet"), true, true);
    if (auto v = f.get("responses")) {
        auto p = f.at("responses");
        simdjson::dom::object obj;
        if (v->get_object().get(obj) != simdjson::SUCCESS) fail_type(*v, p, "an object");
        for (auto [key, reply] : obj) {
            if (!is_lower_word(key, true, false)) {
                fail(p, "bad keyword " + quote(key) + ": must be one lowercase word of [a-z0-9]");
            }
            for (const auto& r : n.responses) {
                if (r.first == key) fail(p, "duplicate keyword " + quote(key));
            }
            n.responses.emplace_back(std::string(key), as_npc_line(reply, at_field(p, key), true));
        }
    }
    if (auto v = f.get("chatter")) {
        auto p = f.at("chatter");
        std::size_t i = 0;
        for (element line : as_array(*v, p)) {
            n.chatter.push_back(as_npc_line(line, at_index(p, i++), false));
        }
    }
    if (auto v = f.get("items")) items = as_refs(*v, f.at("items"));
    return n;
}

std::uint32_t resolve(const std::unordered_map<std::string, std::uint32_t>& index, const Ref& ref,
                      std::string_view kind) {
    auto it = index.find(ref.id);
    if (it == index.end()) fail(ref.path, "unknown " + std::string(kind) + " " + quote(ref.id));
    return it->second;
}

}  // namespace

std::int64_t World::find_room(std::string_view id) const {
    auto it = room_index.find(std::string(id));
    return it == room_index.end() ? -1 : static_cast<std::int64_t>(it->second);
}

std::int64_t World::find_item(std::string_view id) const {
    auto it = item_index.find(std::string(id));
    return it == item_index.end() ? -1 : static_cast<std::int64_t>(it->second);
}

World parse_world(std::string_view json) {
    simdjson::dom::parser parser;
    element root;
    if (auto err = parser.parse(json.data(), json.size()).get(root)) {
        throw WorldError(std::string("invalid JSON: ") + simdjson::error_message(err));
    }
    Fields top(root, "", {"name", "start", "rooms", "items", "npcs"});
    World w;
    w.name = as_text(top.require("name", "string"), top.at("name"));
    auto start_path = top.at("start");
    Ref start{as_id(top.require("start", "string"), start_path), start_path};

    std::vector<std::string> room_paths, item_paths, npc_paths;
    std::vector<PendingRoom> pending_rooms;
    auto rooms_path = top.at("rooms");
    std::size_t i = 0;
    for (element e : as_array(top.require("rooms", "array"), rooms_path)) {
        auto p = at_index(rooms_path, i++);
        pending_rooms.emplace_back();
        w.rooms.push_back(parse_room(e, p, pending_rooms.back()));
        add_id(w.room_index, room_paths, w.rooms.back().id, p);
    }
    if (w.rooms.empty()) fail(rooms_path, "must not be empty (a world needs at least one room)");

    if (auto v = top.get("items")) {
        auto items_path = top.at("items");
        i = 0;
        for (element e : as_array(*v, items_path)) {
            auto p = at_index(items_path, i++);
            w.items.push_back(parse_item(e, p));
            add_id(w.item_index, item_paths, w.items.back().id, p);
        }
    }

    std::unordered_map<std::string, std::uint32_t> npc_index;
    std::vector<std::vector<Ref>> npc_items;
    if (auto v = top.get("npcs")) {
        auto npcs_path = top.at("npcs");
        i = 0;
        for (element e : as_array(*v, npcs_path)) {
            auto p = at_index(npcs_path, i++);
            npc_items.emplace_back();
            w.npcs.push_back(parse_npc(e, p, npc_items.back()));
            add_id(npc_index, npc_paths, w.npcs.back().id, p);
        }
    }

    // References, in file order so that the first problem reported is the first in the file.
    w.start = resolve(w.room_index, start, "room");
    for (std::size_t r = 0; r < w.rooms.size(); ++r) {
        auto& room = w.rooms[r];
        const auto& pending = pending_rooms[r];
        for (std::size_t x = 0; x < room.exits.size(); ++x) {
            room.exits[x].to = resolve(w.room_index, pending.exits[x], "room");
        }
        for (const auto& ref : pending.items) {
            room.items.push_back(resolve(w.item_index, ref, "item"));
        }
        for (const auto& ref : pending.npcs) room.npcs.push_back(resolve(npc_index, ref, "NPC"));
    }
    for (std::size_t n = 0; n < w.npcs.size(); ++n) {
        for (const auto& ref : npc_items[n]) {
            auto item = resolve(w.item_index, ref, "item");
            // Carried items drop on death; a fixture lying about afterwards would be stuck.
            if (!w.items[item].takeable) {
                fail(ref.path, "item " + quote(ref.id) + " is not takeable");
            }
            w.npcs[n].items.push_back(item);
        }
    }
    return w;
}

World load_world(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        throw WorldError(path.string() + ": cannot read: is a directory");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw WorldError(path.string() + ": cannot open: " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw WorldError(path.string() + ": cannot read: " + std::strerror(errno));
    try {
        return parse_world(text.str());
    } catch (const WorldError& e) {
        throw WorldError(path.string() + ": " + e.what());
    }
}

std::string npc_line(const NpcTemplate& npc, std::string_view text, std::string_view player) {
    std::string out = npc.name;
    if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') {
        out[0] = static_cast<char>(out[0] - 'a' + 'A');
    }
    out += ' ';
    for (std::size_t i = 0; i < text.size();) {
        if (text.substr(i).starts_with("{name}")) {
            out += player;
            i += 6;
        } else {
            out += text[i++];
        }
    }
    return out;
}

}  // namespace mud

// Sessions, logins, the tick and shutdown. Commands are in commands.cpp, fights and NPCs
// in combat.cpp.
#include "game_state.hpp"

#include "auth.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace mud {

using namespace std::chrono_literals;

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string capitalised(std::string_view s) {
    std::string out(s);
    if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

std::pair<std::string_view, std::string_view> split_word(std::string_view s) {
    s = trim(s);
    auto sp = s.find_first_of(" \t");
    if (sp == std::string_view::npos) return {s, {}};
    return {s.substr(0, sp), trim(s.substr(sp + 1))};
}

namespace {

bool valid_name(std::string_view name) {
    if (name.size() < 3 || name.size() > 16) return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
}

constexpr std::string_view reserved_names[] = {"admin", "system", "global", "you", "someone",
                                               "self", "all", "here", "everyone", "nobody"};

}  // namespace

Game::State::State(const World& w, Host& h, GameOptions o)
    : world(w), host(h), options(std::move(o)), rng(options.seed), rooms(w.rooms.size()) {
    for (auto& a : options.admins) a = lower(a);
    for (std::uint32_t r = 0; r < world.rooms.size(); ++r) {
        for (auto item : world.rooms[r].items) rooms[r].items.push_back(item);
        for (auto t : world.rooms[r].npcs) {
            auto n = std::make_unique<Npc>();
            n->uid = npcs.size() + 1;
            n->tmpl = t;
            n->home = r;
            n->hp = world.npcs[t].hp;
            n->items = world.npcs[t].items;
            n->room_slot = rooms[r].npcs.size();
            n->room = r;
            rooms[r].npcs.push_back(n.get());
            npcs.push_back(std::move(n));
        }
    }
    for (auto& t : world.npcs) {
        for (auto& k : t.keywords) npc_words.insert(lower(k));
    }
    channels["global"];
}

// ---- output -------------------------------------------------------------------------

void Game::State::send(Session& s, std::string msg) {
    ++stats.messages_out_total;
    host.send(s.id, std::move(msg));
}

void Game::State::send(Player& p, std::string msg) {
    if (p.session == 0) return;
    ++stats.messages_out_total;
    host.send(p.session, std::move(msg));
}

void Game::State::send_room(std::uint32_t room, const std::string& msg, const Player* except) {
    for (Player* p : rooms[room].players) {
        if (p != except) send(*p, msg);
    }
}

void Game::State::announce_room(std::uint32_t room, const std::string& msg, const Player* except) {
    if (rooms[room].players.size() <= options.crowd_threshold) send_room(room, msg, except);
}

void Game::State::text(Player& p, std::string_view type, std::string_view line) {
    send(p, text_message(type, {line}));
}

void Game::State::error(Session& s, std::string_view code, std::string_view message) {
    send(s, error_message(code, message));
}

void Game::State::bye(Session& s, std::string_view reason, std::uint16_t code) {
    if (s.closing) return;
    send(s, Out("bye").arg(reason).str());
    s.closing = true;
    host.close(s.id, code);
}

std::string Game::State::room_message(const Player& p) const {
    const Room& room = world.rooms[p.room];
    const RoomState& rs = rooms[p.room];
    std::vector<std::string> exits, players_here, npcs_here, items_here;
    for (auto& e : room.exits) exits.push_back(e.dir);
    std::int64_t more = 0;
    for (const Player* other : rs.players) {
        if (other == &p) continue;
        if (players_here.size() < 50) {
            players_here.push_back(other->name);
        } else {
            ++more;
        }
    }
    for (const Npc* n : rs.npcs) npcs_here.push_back(world.npcs[n->tmpl].name);
    for (auto i : rs.items) items_here.push_back(world.items[i].name);
    return Out("room")
        .kw("id", room.id)
        .kw("name", room.name)
        .kw("desc", room.desc)
        .kw_strings("exits", exits)
        .kw_strings("players", players_here)
        .kw("more_players", more)
        .kw_strings("npcs", npcs_here)
        .kw_strings("items", items_here)
        .str();
}

std::string Game::State::status_message(const Player& p) const {
    return Out("status")
        .kw("name", p.name)
        .kw("hp", p.hp)
        .kw("max_hp", p.max_hp)
        .kw("room", world.rooms[p.room].name)
        .kw("combat", p.target ? std::string_view(world.npcs[p.target->tmpl].name) : std::string_view())
        .str();
}

void Game::State::show_room(Player& p) {
    send(p, room_message(p));
    const Room& room = world.rooms[p.room];
    const RoomState& rs = rooms[p.room];
    std::string exits;
    for (auto& e : room.exits) exits += (exits.empty() ? "" : ", ") + e.dir;
    Out out("text");
    out.arg(room.name).arg(room.desc).arg(exits.empty() ? "There are no exits." : "Exits: " + exits + ".");
    for (auto i : rs.items) out.arg(capitalised(world.items[i].name) + " lies here.");
    for (const Npc* n : rs.npcs) out.arg(capitalised(world.npcs[n->tmpl].name) + " is here.");
    std::size_t shown = 0, others = rs.players.size() - 1;
    for (const Player* other : rs.players) {
        if (other == &p) continue;
        if (++shown > 10) break;
        out.arg(other->name + (other->session == 0 ? " is here, staring blankly." : " is here."));
    }
    if (others > 10) out.arg(fmt::format("...and {} others.", others - 10));
    send(p, std::move(out.kw("type", "room")).str());
}

// ---- world bookkeeping --------------------------------------------------------------

namespace {

// Rooms keep their occupants in vectors; each occupant knows its slot, so leaving is O(1)
// (the last one moves into the hole). T is Player or Npc.
template <class T>
void add_occupant(std::vector<T*>& list, T& who) {
    who.room_slot = list.size();
    list.push_back(&who);
}

template <class T>
void remove_occupant(std::vector<T*>& list, T& who) {
    T* last = list.back();
    list[who.room_slot] = last;
    last->room_slot = who.room_slot;
    list.pop_back();
}

std::string enter_message(std::string_view name, std::string_view kind, std::string_view from_dir) {
    return Out("room_enter").arg(name).kw("kind", kind).kw("from", from_dir).str();
}

std::string leave_message(std::string_view name, std::string_view kind, std::string_view to_dir) {
    return Out("room_leave").arg(name).kw("kind", kind).kw("to", to_dir).str();
}

}  // namespace

void Game::State::place(Player& p, std::uint32_t room, std::string_view from_dir) {
    announce_room(room, enter_message(p.name, "player", from_dir));
    p.room = room;
    add_occupant(rooms[room].players, p);
    p.dirty = true;
}

void Game::State::unplace(Player& p, std::string_view to_dir) {
    remove_occupant(rooms[p.room].players, p);
    announce_room(p.room, leave_message(p.name, "player", to_dir));
}

void Game::State::place(Npc& n, std::uint32_t room, std::string_view from_dir) {
    send_room(room, enter_message(capitalised(world.npcs[n.tmpl].name), "npc", from_dir));
    n.room = room;
    add_occupant(rooms[room].npcs, n);
}

void Game::State::unplace(Npc& n, std::string_view to_dir) {
    remove_occupant(rooms[n.room].npcs, n);
    send_room(n.room, leave_message(capitalised(world.npcs[n.tmpl].name), "npc", to_dir));
}

void Game::State::move(Player& p, const Exit& exit) {
    std::uint32_t to = exit.to;
    std::string from;
    for (auto& back : world.rooms[to].exits) {
        if (back.to == p.room) {
            from = back.dir;
            break;
        }
    }
    if (p.target) stop_fight(p);
    unplace(p, exit.dir);
    place(p, to, from);
    show_room(p);
    send(p, status_message(p));
    on_player_enters(p);
}

CharacterRecord Game::State::snapshot(const Player& p) const {
    CharacterRecord c;
    c.name = p.name;
    c.room = world.rooms[p.room].id;
    c.hp = p.hp;
    c.max_hp = p.max_hp;
    for (auto i : p.inventory) c.inventory.push_back(world.items[i].id);
    c.channels = p.channels;
    c.kills = p.kills;
    c.deaths = p.deaths;
    return c;
}

void Game::State::remove_player(Player& p, std::string_view why) {
    if (p.target) stop_fight(p);
    for (auto& n : npcs) {
        if (n->target == &p) n->target = nullptr;
    }
    host.save({snapshot(p)});
    unplace(p, "");
    if (!why.empty()) announce_room(p.room, text_message("info", {fmt::format("{} {}", p.name, why)}));
    for (auto& ch : p.channels) {
        auto it = channels.find(ch);
        if (it != channels.end()) it->second.erase(&p);
    }
    if (!p.token.empty()) tokens.erase(p.token);
    linkdead.erase(&p);
    if (p.session != 0) {
        auto it = sessions.find(p.session);
        if (it != sessions.end()) it->second.player = nullptr;
    }
    players.erase(p.key);  // destroys p
}

void Game::State::enter_world(Session& s, Player& p, bool resumed) {
    if (!p.token.empty()) tokens.erase(p.token);
    if (!resumed || p.token.empty()) {
        p.token = random_token();
    }
    tokens[p.token] = &p;
    p.session = s.id;
    p.last_command = now;
    linkdead.erase(&p);
    s.player = &p;
    ++stats.logins_total;
    send(s, Out("logged_in")
                .kw("name", p.name)
                .kw("token", p.token)
                .kw("admin", p.admin)
                .kw("resumed", resumed)
                .str());
    show_room(p);
    send(p, status_message(p));
}

// ---- sessions and logins ------------------------------------------------------------

bool Game::State::throttled(std::deque<TimePoint>& events, int limit, std::chrono::seconds window) {
    while (!events.empty() && now - events.front() >= window) events.pop_front();
    return static_cast<int>(events.size()) >= limit;
}

void Game::State::handle_line(Session& s, std::string line) {
    if (s.closing) return;
    // A command is one line: control characters (newlines, escapes) become spaces.
    for (char& c : line) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    s.last_input = now;
    if (line.size() > options.max_line_bytes) {
        error(s, "too_long", fmt::format("That line is too long (the limit is {} bytes).", options.max_line_bytes));
        return;
    }
    // Token bucket: run now while there are tokens, hold a few back, refuse the rest.
    double elapsed = std::chrono::duration<double>(now - s.last_refill).count();
    s.tokens = std::min(options.command_burst, s.tokens + elapsed * options.commands_per_second);
    s.last_refill = now;
    if (s.pending.empty() && s.tokens >= 1.0) {
        s.tokens -= 1.0;
        run_command(s, line);
        return;
    }
    if (s.pending.size() >= options.max_pending_commands) {
        error(s, "rate_limited", "You are sending commands too fast; that one was dropped.");
        return;
    }
    s.pending.push_back(std::move(line));
    with_pending.insert(&s);
}

void Game::State::run_command(Session& s, std::string_view line) {
    ++stats.commands_total;
    if (s.player != nullptr) {
        s.player->last_command = now;
        dispatch(*s.player, line);
    } else {
        run_login_command(s, line);
    }
}

void Game::State::run_login_command(Session& s, std::string_view line) {
    auto [verb_raw, rest] = split_word(line);
    std::string verb = lower(verb_raw);
    if (verb.empty()) return;
    if (verb == "who") return send_who(s, true);
    if (verb == "help") return send_help(nullptr, s, rest);
    if (verb == "quit") return bye(s, "Goodbye.", 1000);
    if (verb != "connect" && verb != "create") {
        return error(s, "not_logged_in", "Log in first: connect <name> <password>, or create <name> <password>.");
    }
    if (s.authenticating) return error(s, "server_busy", "Still checking your last login; a moment please.");
    if (shutdown_at) return error(s, "server_busy", "The server is shutting down; try again later.");
    auto [name, password] = split_word(rest);
    if (name.empty() || password.empty()) {
        return error(s, verb == "connect" ? "login_failed" : "bad_name",
                     fmt::format("Usage: {} <name> <password>", verb));
    }
    if (verb == "connect") {
        if (throttled(failed_logins[s.ip], options.max_failed_logins, options.login_window)) {
            auto wait = std::chrono::ceil<std::chrono::seconds>(options.login_window - (now - failed_logins[s.ip].front()));
            return error(s, "throttled",
                         fmt::format("Too many failed logins from your address; try again in {} s.", wait.count()));
        }
        if (!valid_name(name)) {
            failed_logins[s.ip].push_back(now);
            ++stats.failed_logins_total;
            return error(s, "login_failed", "Wrong name or password.");
        }
        s.authenticating = true;
        host.start_login(s.id, std::string(name), std::string(password));
        return;
    }
    // create
    std::string key = lower(name);
    if (!valid_name(name)) {
        return error(s, "bad_name", "A name is 3 to 16 letters (A-Z), nothing else.");
    }
    if (std::find(std::begin(reserved_names), std::end(reserved_names), key) != std::end(reserved_names) ||
        npc_words.contains(key)) {
        return error(s, "bad_name", fmt::format("The name {} is reserved; pick another.", capitalised(key)));
    }
    if (password.size() < 6 || password.size() > 128 || password.find_first_of(" \t") != std::string_view::npos) {
        return error(s, "bad_password", "A password is 6 to 128 characters without spaces.");
    }
    if (players.contains(key)) return error(s, "name_taken", "That name is taken.");
    if (throttled(creates[s.ip], options.max_creates, options.create_window)) {
        auto wait = std::chrono::ceil<std::chrono::seconds>(options.create_window - (now - creates[s.ip].front()));
        return error(s, "throttled",
                     fmt::format("Too many new accounts from your address; try again in {} s.", wait.count()));
    }
    creates[s.ip].push_back(now);
    AccountRecord account;
    account.name = capitalised(key);
    account.admin = std::find(options.admins.begin(), options.admins.end(), key) != options.admins.end();
    CharacterRecord character;
    character.name = account.name;
    character.room = world.rooms[world.start].id;
    character.channels = {"global"};
    s.authenticating = true;
    host.start_create(s.id, std::move(account), std::move(character), std::string(password));
}

namespace {

// Builds a Player from a stored character; unknown rooms and items (the world file
// changed) fall back to the start room and are dropped.
std::unique_ptr<Player> make_player(const World& world, const AccountRecord& account,
                                    const CharacterRecord& c, const std::vector<std::string>& admins) {
    auto p = std::make_unique<Player>();
    p->name = account.name;
    p->key = lower(account.name);
    p->admin = account.admin || std::find(admins.begin(), admins.end(), p->key) != admins.end();
    auto room = world.find_room(c.room);
    p->room = room >= 0 ? static_cast<std::uint32_t>(room) : world.start;
    p->max_hp = c.max_hp > 0 ? c.max_hp : 20;
    p->hp = std::clamp(c.hp, 1, p->max_hp);
    for (auto& id : c.inventory) {
        auto i = world.find_item(id);
        if (i >= 0) p->inventory.push_back(static_cast<std::uint32_t>(i));
    }
    p->channels = c.channels;
    p->kills = c.kills;
    p->deaths = c.deaths;
    return p;
}

}  // namespace

}  // namespace mud

namespace mud {

Game::Game(const World& world, Host& host, GameOptions options)
    : m_state(std::make_unique<State>(world, host, std::move(options))) {}

Game::~Game() = default;

const World& Game::world() const noexcept { return m_state->world; }

bool Game::shutting_down() const noexcept { return m_state->shutdown_at.has_value(); }

GameStats Game::stats() const {
    GameStats s = m_state->stats;
    s.sessions = m_state->sessions.size();
    s.players_online = m_state->players.size();
    s.players_linkdead = m_state->linkdead.size();
    return s;
}

void Game::on_connect(SessionId id, std::string ip, TimePoint now) {
    auto& st = *m_state;
    st.now = now;
    Session& s = st.sessions[id];
    s.id = id;
    s.ip = std::move(ip);
    s.tokens = st.options.command_burst;
    s.last_refill = now;
    s.last_input = now;
    if (++st.connections_per_ip[s.ip] > st.options.max_connections_per_ip) {
        st.error(s, "too_many_connections", "Too many connections from your address.");
        st.bye(s, "Too many connections from your address.", 1008);
        return;
    }
    st.send(s, text_message("system", {fmt::format("Welcome to {}!", st.world.name),
                                       "Type: connect <name> <password>   or   create <name> <password>"}));
}

void Game::on_message(SessionId id, std::string_view data, TimePoint now) {
    auto& st = *m_state;
    st.now = now;
    auto it = st.sessions.find(id);
    if (it == st.sessions.end()) return;
    Session& s = it->second;
    if (s.closing) return;
    s.last_input = now;
    auto parsed = parse_inbound(data);
    if (auto* err = std::get_if<ProtocolError>(&parsed)) {
        ++st.stats.protocol_errors_total;
        return st.error(s, err->code, err->message);
    }
    auto& in = std::get<Inbound>(parsed);
    if (in.cmd == "text") {
        if (in.args.empty() || !in.arg_is_string[0]) {
            ++st.stats.protocol_errors_total;
            return st.error(s, "bad_message", "A text message needs the command line as its first argument.");
        }
        return st.handle_line(s, std::move(in.args[0]));
    }
    if (in.cmd == "who") return st.send_who(s, false);
    if (in.cmd == "ping") return st.send(s, "[\"pong\",[]," + in.kwargs + "]");
    if (in.cmd == "resume") {
        if (in.args.empty() || !in.arg_is_string[0]) return st.error(s, "resume_failed", "Resume needs a token.");
        if (s.player != nullptr) return st.error(s, "resume_failed", "You are already playing.");
        auto t = st.tokens.find(in.args[0]);
        if (t == st.tokens.end()) {
            return st.error(s, "resume_failed", "That session is over; please log in again.");
        }
        Player& p = *t->second;
        if (p.session != 0) {
            auto old = st.sessions.find(p.session);
            if (old != st.sessions.end()) {
                old->second.player = nullptr;
                st.bye(old->second, "Your character was taken over by a new connection.", 1000);
            }
        }
        st.enter_world(s, p, true);
        return;
    }
    ++st.stats.protocol_errors_total;
    st.error(s, "unknown_message", fmt::format("Unknown message \"{}\".", in.cmd));
}

void Game::on_disconnect(SessionId id, TimePoint now) {
    auto& st = *m_state;
    st.now = now;
    auto it = st.sessions.find(id);
    if (it == st.sessions.end()) return;
    Session& s = it->second;
    if (auto c = st.connections_per_ip.find(s.ip); c != st.connections_per_ip.end() && --c->second == 0) {
        st.connections_per_ip.erase(c);
    }
    st.with_pending.erase(&s);
    if (s.player != nullptr) {
        Player& p = *s.player;
        p.session = 0;
        p.linkdead_since = now;
        st.linkdead.insert(&p);
        st.announce_room(p.room, text_message("info", {p.name + " has lost their connection."}), &p);
    }
    st.sessions.erase(it);
}

void Game::on_login(LoginResult r, TimePoint now) {
    auto& st = *m_state;
    st.now = now;
    auto it = st.sessions.find(r.session);
    if (it == st.sessions.end()) return;  // gone while the password was checked
    Session& s = it->second;
    s.authenticating = false;
    if (s.closing || s.player != nullptr) return;
    switch (r.outcome) {
    case LoginResult::Outcome::ok: break;
    case LoginResult::Outcome::bad_credentials:
        st.failed_logins[s.ip].push_back(now);
        ++st.stats.failed_logins_total;
        return st.error(s, "login_failed", "Wrong name or password.");
    case LoginResult::Outcome::banned:
        return st.error(s, "banned", r.message.empty() ? "This account is banned." : "This account is banned: " + r.message);
    case LoginResult::Outcome::error: return st.error(s, "server_busy", "Login failed on the server's side; try again.");
    }
    if (st.shutdown_at) return st.error(s, "server_busy", "The server is shutting down; try again later.");
    std::string key = lower(r.account.name);
    auto existing = st.players.find(key);
    if (existing != st.players.end()) {
        // One session per character: the new connection takes it over where it stands.
        Player& p = *existing->second;
        if (p.session != 0) {
            auto old = st.sessions.find(p.session);
            if (old != st.sessions.end()) {
                old->second.player = nullptr;
                st.bye(old->second, "Your character was taken over by a new connection.", 1000);
            }
        }
        st.enter_world(s, p, false);  // a new token; the old one is void
        st.text(p, "system", "You take over your character.");
        return;
    }
    auto player = make_player(st.world, r.account, r.character, st.options.admins);
    Player& p = *player;
    st.players.emplace(p.key, std::move(player));
    for (auto& ch : p.channels) st.channels[ch].insert(&p);
    st.place(p, p.room, "");
    st.enter_world(s, p, false);
    st.on_player_enters(p);
}

void Game::on_create(CreateResult r, TimePoint now) {
    auto& st = *m_state;
    st.now = now;
    auto it = st.sessions.find(r.session);
    if (it == st.sessions.end()) return;
    Session& s = it->second;
    s.authenticating = false;
    if (s.closing || s.player != nullptr) return;
    if (r.outcome == CreateResult::Outcome::name_taken) return st.error(s, "name_taken", "That name is taken.");
    if (r.outcome != CreateResult::Outcome::ok) {
        return st.error(s, "server_busy", "Could not create the account on the server's side; try again.");
    }
    LoginResult as_login{r.session, LoginResult::Outcome::ok, std::move(r.account), std::move(r.character), {}};
    on_login(std::move(as_login), now);
    if (s.player != nullptr) st.text(*s.player, "system", "Welcome, " + s.player->name + "! Type help to see what you can do.");
}

void Game::tick(TimePoint now) {
    auto& st = *m_state;
    st.now = now;
    // Commands held back by the rate limit.
    for (auto it = st.with_pending.begin(); it != st.with_pending.end();) {
        Session& s = **it;
        double elapsed = std::chrono::duration<double>(now - s.last_refill).count();
        s.tokens = std::min(st.options.command_burst, s.tokens + elapsed * st.options.commands_per_second);
        s.last_refill = now;
        while (!s.pending.empty() && s.tokens >= 1.0 && !s.closing) {
            s.tokens -= 1.0;
            std::string line = std::move(s.pending.front());
            s.pending.pop_front();
            st.run_command(s, line);
        }
        it = s.pending.empty() || s.closing ? st.with_pending.erase(it) : std::next(it);
    }
    if (now >= st.next_combat_round) {
        st.next_combat_round = now + st.options.combat_round;
        st.combat_round();
    }
    st.npcs_tick();
    if (now >= st.next_idle_check) {
        st.next_idle_check = now + 1s;
        for (auto& [id, s] : st.sessions) {
            if (!s.closing && now - s.last_input >= st.options.idle_timeout) {
                if (s.player != nullptr) {
                    Player* p = s.player;
                    s.player = nullptr;
                    p->session = 0;
                    st.remove_player(*p, "has been idle too long and fades away.");
                }
                st.bye(s, "You were idle too long.", 1000);
            }
        }
        for (auto it = st.linkdead.begin(); it != st.linkdead.end();) {
            Player* p = *it;
            ++it;  // remove_player erases p from the set
            if (now - p->linkdead_since >= st.options.resume_grace) st.remove_player(*p, "fades away.");
        }
    }
    if (st.next_autosave == TimePoint{}) st.next_autosave = now + st.options.autosave_interval;
    if (now >= st.next_autosave) {
        st.next_autosave = now + st.options.autosave_interval;
        std::vector<CharacterRecord> batch;
        for (auto& [key, p] : st.players) {
            if (p->dirty) {
                batch.push_back(st.snapshot(*p));
                p->dirty = false;
            }
        }
        if (!batch.empty()) st.host.save(std::move(batch));
    }
    if (st.shutdown_at && now >= *st.shutdown_at && !st.shutdown_done) {
        st.shutdown_done = true;
        std::vector<CharacterRecord> all;
        for (auto& [key, p] : st.players) all.push_back(st.snapshot(*p));
        if (!all.empty()) st.host.save(std::move(all));
        for (auto& [id, s] : st.sessions) st.bye(s, "The server is shutting down. Your character has been saved.", 1001);
        st.host.shutdown_complete();
    }
}

void Game::begin_shutdown(std::chrono::seconds delay, std::string_view reason, TimePoint now) {
    m_state->now = now;
    m_state->begin_shutdown(delay, reason);
}

void Game::State::begin_shutdown(std::chrono::seconds delay, std::string_view reason) {
    TimePoint at = now + delay;
    if (shutdown_at && *shutdown_at <= at) return;
    shutdown_at = at;
    std::string why = reason.empty() ? std::string() : fmt::format(" ({})", reason);
    std::string line = delay.count() > 0 ? fmt::format("The server will shut down in {} seconds{}.", delay.count(), why)
                                         : fmt::format("The server is shutting down now{}.", why);
    std::string msg = text_message("announce", {line});
    for (auto& [id, s] : sessions) send(s, msg);
}

}  // namespace mud

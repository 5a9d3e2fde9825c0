// game_state.hpp: the live state behind Game, shared by game.cpp (sessions, logins, tick),
// commands.cpp (the command table) and combat.cpp (fights and NPCs). Internal to mud_core.
#pragma once

#include "game.hpp"
#include "protocol.hpp"

#include <map>
#include <optional>
#include <set>

namespace mud {

struct Player;
struct Npc;

struct Session {
    SessionId id = 0;
    std::string ip;
    Player* player = nullptr;
    bool authenticating = false;  // a login or create job is in flight
    bool closing = false;         // bye sent; waiting for the disconnect
    double tokens = 0;            // rate limit bucket
    TimePoint last_refill{};
    TimePoint last_input{};
    std::deque<std::string> pending;  // commands held back by the rate limit
};

struct Player {
    std::string name;  // "Alice"
    std::string key;   // "alice"
    bool admin = false;
    std::uint32_t room = 0;
    std::size_t room_slot = 0;  // index in RoomState::players
    int hp = 20;
    int max_hp = 20;
    std::vector<std::uint32_t> inventory;  // item templates
    std::vector<std::string> channels;
    int kills = 0;
    int deaths = 0;
    SessionId session = 0;  // 0 = link-dead
    TimePoint linkdead_since{};
    TimePoint last_command{};
    std::string token;
    Npc* target = nullptr;  // fighting
    bool dirty = false;
};

struct Npc {
    std::uint64_t uid = 0;
    std::uint32_t tmpl = 0;
    std::uint32_t home = 0;
    std::uint32_t room = 0;
    std::size_t room_slot = 0;
    int hp = 0;
    bool alive = true;
    TimePoint respawn_at{};
    TimePoint next_think{};
    std::vector<std::uint32_t> items;
    Player* target = nullptr;
};

struct RoomState {
    std::vector<Player*> players;
    std::vector<Npc*> npcs;
    std::vector<std::uint32_t> items;  // item templates on the floor
};

struct Command;

struct Game::State {
    State(const World& w, Host& h, GameOptions o);

    const World& world;
    Host& host;
    GameOptions options;
    std::mt19937 rng;
    TimePoint now{};

    std::unordered_map<SessionId, Session> sessions;
    std::unordered_map<std::string, std::unique_ptr<Player>> players;  // by key, in the world
    std::unordered_map<std::string, Player*> tokens;
    std::unordered_set<Player*> linkdead;
    std::unordered_set<Session*> with_pending;
    std::unordered_set<Player*> fighting;
    std::vector<RoomState> rooms;
    std::vector<std::unique_ptr<Npc>> npcs;
    std::unordered_set<std::string> npc_words;  // names a player may not take
    std::map<std::string, std::set<Player*>> channels;
    std::unordered_map<std::string, std::size_t> connections_per_ip;
    std::unordered_map<std::string, std::deque<TimePoint>> failed_logins;  // by IP
    std::unordered_map<std::string, std::deque<TimePoint>> creates;        // by IP
    GameStats stats;

    TimePoint next_combat_round{};
    TimePoint next_autosave{};
    TimePoint next_idle_check{};
    std::optional<TimePoint> shutdown_at;
    bool shutdown_done = false;

    // Output.
    void send(Session& s, std::string msg);
    void send(Player& p, std::string msg);
    void send_room(std::uint32_t room, const std::string& msg, const Player* except = nullptr);
    // Like send_room, but only while the room is not crowded (GameOptions::crowd_threshold).
    void announce_room(std::uint32_t room, const std::string& msg, const Player* except = nullptr);
    void text(Player& p, std::string_view type, std::string_view line);
    void error(Session& s, std::string_view code, std::string_view message);
    void bye(Session& s, std::string_view reason, std::uint16_t code);
    std::string room_message(const Player& p) const;
    std::string status_message(const Player& p) const;
    void show_room(Player& p);

    // World bookkeeping.
    void place(Player& p, std::uint32_t room, std::string_view from_dir);
    void unplace(Player& p, std::string_view to_dir);
    void place(Npc& n, std::uint32_t room, std::string_view from_dir);
    void unplace(Npc& n, std::string_view to_dir);
    void move(Player& p, const Exit& exit);
    CharacterRecord snapshot(const Player& p) const;
    // Saves and removes a player from the world (quit, kick, grace over, shutdown).
    void remove_player(Player& p, std::string_view why);
    void enter_world(Session& s, Player& p, bool resumed);

    // Sessions and logins (game.cpp).
    void handle_line(Session& s, std::string line);
    void run_command(Session& s, std::string_view line);
    void run_login_command(Session& s, std::string_view line);
    void begin_shutdown(std::chrono::seconds delay, std::string_view reason);
    bool throttled(std::deque<TimePoint>& events, int limit, std::chrono::seconds window);

    // Commands (commands.cpp).
    void dispatch(Player& p, std::string_view line);
    void send_who(Session& s, bool with_text);  // the who message; with_text adds the readable list (typed who)
    void send_help(Player* p, Session& s, std::string_view topic);

    // Combat and NPCs (combat.cpp).
    void start_fight(Player& p, Npc& n);
    void stop_fight(Player& p);
    void combat_round();
    void npc_think(Npc& n);
    void npcs_tick();
    void player_dies(Player& p);
    void npc_dies(Npc& n, Player* killer);
    void on_player_enters(Player& p);
    void on_say(Player& p, std::string_view msg);
    void flee(Player& p);
    int player_damage(const Player& p);
};

// Lowercase ASCII copy.
std::string lower(std::string_view s);
// "a sewer rat" -> "A sewer rat".
std::string capitalised(std::string_view s);
// Splits off the first word: {"say", "hello there"}.
std::pair<std::string_view, std::string_view> split_word(std::string_view s);
std::string_view trim(std::string_view s);

}  // namespace mud

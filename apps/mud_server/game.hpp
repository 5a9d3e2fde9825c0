// game.hpp: the MUD's domain class. It owns the live world, the players and the session
// registry, and is driven from one thread (the game thread): transports report connects,
// messages and disconnects; the Host's jobs (password checks, database writes) report back
// through on_login/on_create; tick() advances time (combat rounds, NPCs, timeouts, autosave).
// No sockets and no locks here: tests drive a Game with a fake Host and a fake clock.
#pragma once

#include "store.hpp"
#include "world.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mud {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using SessionId = std::uint64_t;

struct GameOptions {
    // Lowercase account names that get admin commands (in addition to accounts flagged admin).
    std::vector<std::string> admins{};
    // Longest command line; longer gets a too_long error.
    std::size_t max_line_bytes = 1024;
    // Commands per second a session may run (token bucket), with this many in a burst.
    double commands_per_second = 8.0;
    double command_burst = 16.0;
    // Commands held back when the rate is exceeded; beyond this they are refused (rate_limited).
    std::size_t max_pending_commands = 8;
    // A session that sends nothing for this long is closed (the character is saved).
    std::chrono::seconds idle_timeout{30 * 60};
    // Connections from one IP address at once.
    std::size_t max_connections_per_ip = 20;
    // Failed logins (per IP) allowed per login_window; more are refused (throttled).
    int max_failed_logins = 5;
    std::chrono::seconds login_window{60};
    // Accounts created (per IP) per create_window.
    int max_creates = 3;
    std::chrono::seconds create_window{600};
    // A character whose connection dropped stays in the world, resumable, this long.
    std::chrono::seconds resume_grace{60};
    // Dirty characters are saved this often.
    std::chrono::seconds autosave_interval{60};
    // Combat round length.
    std::chrono::milliseconds combat_round{2000};
    // How often each NPC considers wandering or chattering.
    std::chrono::milliseconds npc_interval{5000};
    // In a room with more players than this, arrivals, departures, NPC greetings and item
    // handling are no longer announced to the whole room (each would cost a message per
    // occupant: a crowded start room would turn N logins into N^2 messages). Speech still is.
    std::size_t crowd_threshold = 50;
    // Seed for NPC and combat randomness (tests fix it).
    std::uint32_t seed = 0;
};

// What the game needs from outside. Called on the game thread; implementations queue.
class Host {
public:
    virtual ~Host() = default;
    // Queues one message to a session (no-op for an unknown or closed session).
    virtual void send(SessionId session, std::string message) = 0;
    // Closes a session after what was queued (1000 normal, 1008 kick/ban/policy).
    virtual void close(SessionId session, std::uint16_t code) = 0;
    // Checks a password (off the game thread); answers with Game::on_login.
    virtual void start_login(SessionId session, std::string name, std::string password) = 0;
    // Hashes the password and creates account + character; answers with Game::on_create.
    virtual void start_create(SessionId session, AccountRecord account, CharacterRecord character,
                              std::string password) = 0;
    // Writes characters (one transaction), in call order.
    virtual void save(std::vector<CharacterRecord> characters) = 0;
    virtual void set_banned(std::string name, bool banned, std::string reason) = 0;
    // The graceful shutdown is done (everyone told and saved): the process may exit.
    virtual void shutdown_complete() = 0;
};

struct LoginResult {
    enum class Outcome { ok, bad_credentials, banned, error };
    SessionId session = 0;
    Outcome outcome = Outcome::error;
    AccountRecord account;
    CharacterRecord character;
    std::string message;  // for error/banned
};

struct CreateResult {
    enum class Outcome { ok, name_taken, error };
    SessionId session = 0;
    Outcome outcome = Outcome::error;
    AccountRecord account;
    CharacterRecord character;
    std::string message;
};

struct GameStats {
    std::size_t sessions = 0;
    std::size_t players_online = 0;   // in the world, connected or link-dead
    std::size_t players_linkdead = 0;
    std::uint64_t commands_total = 0;
    std::uint64_t messages_out_total = 0;
    std::uint64_t protocol_errors_total = 0;
    std::uint64_t logins_total = 0;
    std::uint64_t failed_logins_total = 0;
    std::uint64_t npc_kills_total = 0;
    std::uint64_t player_deaths_total = 0;
};

class Game {
public:
    Game(const World& world, Host& host, GameOptions options = {});
    ~Game();
    Game(const Game&) = delete;
    Game& operator=(const Game&) = delete;

    void on_connect(SessionId session, std::string ip, TimePoint now);
    void on_message(SessionId session, std::string_view data, TimePoint now);
    void on_disconnect(SessionId session, TimePoint now);
    void on_login(LoginResult result, TimePoint now);
    void on_create(CreateResult result, TimePoint now);
    void tick(TimePoint now);

    // Tells everyone, and after `delay` saves every character, says bye and closes every
    // session, then calls Host::shutdown_complete(). A second call may only shorten the delay.
    void begin_shutdown(std::chrono::seconds delay, std::string_view reason, TimePoint now);
    bool shutting_down() const noexcept;

    GameStats stats() const;
    const World& world() const noexcept;

    struct State;  // the live world; defined in game_state.hpp

private:
    std::unique_ptr<State> m_state;
};

}  // namespace mud

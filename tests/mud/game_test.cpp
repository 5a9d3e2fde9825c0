// Game rules, driven without sockets: a fake Host records what each session is sent and
// answers logins from an in-memory account list; time is a fake clock.
#include "game.hpp"
#include "protocol.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace mud;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view test_world = R"({
 "name": "Testland", "start": "square",
 "rooms": [
  {"id": "square", "name": "Square", "desc": "A square.", "safe": true,
   "exits": {"north": "field", "gate": "yard"}, "items": ["stick", "fountain"]},
  {"id": "field", "name": "Field", "desc": "A field.", "area": "wild",
   "exits": {"south": "square", "east": "den"}, "npcs": ["rabbit"]},
  {"id": "den", "name": "Den", "desc": "A den.", "area": "wild", "exits": {"west": "field"}, "npcs": ["wolf"]},
  {"id": "yard", "name": "Yard", "desc": "A yard.", "exits": {"gate": "square"}, "npcs": ["guard"]}
 ],
 "items": [
  {"id": "stick", "name": "a stick", "keywords": ["stick"], "desc": "A stick.", "damage": 2},
  {"id": "fountain", "name": "a fountain", "keywords": ["fountain"], "desc": "Wet.", "takeable": false},
  {"id": "pelt", "name": "a wolf pelt", "keywords": ["pelt"], "desc": "Furry."}
 ],
 "npcs": [
  {"id": "rabbit", "name": "a rabbit", "keywords": ["rabbit"], "desc": "Fluffy.", "hp": 3, "damage": [1, 1], "respawn_s": 30},
  {"id": "wolf", "name": "a grey wolf", "keywords": ["wolf", "grey"], "desc": "Hungry.", "hp": 200,
   "damage": [50, 50], "aggressive": true, "items": ["pelt"]},
  {"id": "guard", "name": "a guard", "keywords": ["guard"], "desc": "Stern.", "hp": 30,
   "greet": "nods at {name}.", "responses": {"hello": "says, \"Move along.\""}}
 ]
})";

std::string key_of(std::string name) {
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
}

struct FakeHost : Host {
    std::map<SessionId, std::vector<std::string>> sent;
    std::map<SessionId, std::uint16_t> closed;
    std::vector<std::vector<CharacterRecord>> saves;
    std::map<std::string, std::pair<AccountRecord, CharacterRecord>> accounts;  // by lowercase name
    std::map<std::string, std::string> passwords;
    std::vector<LoginResult> logins;    // answered by the test with finish()
    std::vector<CreateResult> creates;
    bool complete = false;

    void send(SessionId s, std::string m) override { sent[s].push_back(std::move(m)); }
    void close(SessionId s, std::uint16_t code) override { closed[s] = code; }
    void start_login(SessionId s, std::string name, std::string password) override {
        LoginResult r;
        r.session = s;
        std::string key = key_of(name);
        auto it = accounts.find(key);
        if (it == accounts.end() || passwords[key] != password) {
            r.outcome = LoginResult::Outcome::bad_credentials;
        } else if (it->second.first.banned) {
            r.outcome = LoginResult::Outcome::banned;
        } else {
            r.outcome = LoginResult::Outcome::ok;
            r.account = it->second.first;
            r.character = it->second.second;
        }
        logins.push_back(std::move(r));
    }
    void start_create(SessionId s, AccountRecord a, CharacterRecord c, std::string password) override {
        CreateResult r;
        r.session = s;
        std::string key = key_of(a.name);
        if (accounts.contains(key)) {
            r.outcome = CreateResult::Outcome::name_taken;
        } else {
            accounts[key] = {a, c};
            passwords[key] = password;
            r.outcome = CreateResult::Outcome::ok;
            r.account = a;
            r.character = c;
        }
        creates.push_back(std::move(r));
    }
    void save(std::vector<CharacterRecord> c) override {
        for (auto& rec : c) {
            accounts[key_of(rec.name)].second = rec;
        }
        saves.push_back(std::move(c));
    }
    void set_banned(std::string name, bool banned, std::string) override {
        if (auto it = accounts.find(key_of(name)); it != accounts.end()) it->second.first.banned = banned;
    }
    void shutdown_complete() override { complete = true; }
};

class GameTest : public ::testing::Test {
protected:
    World world = parse_world(test_world);
    FakeHost host;
    TimePoint now = TimePoint{} + 1000h;
    std::unique_ptr<Game> game;
    SessionId next_id = 1;

    void make(GameOptions o = {}) {
        o.seed = 7;
        game = std::make_unique<Game>(world, host, o);
    }
    void SetUp() override { make(); }

    // Answers the host's pending jobs, as the services would.
    void finish() {
        auto logins = std::move(host.logins);
        auto creates = std::move(host.creates);
        for (auto& r : creates) game->on_create(std::move(r), now);
        for (auto& r : logins) game->on_login(std::move(r), now);
    }
    SessionId connect(std::string ip = "10.0.0.1") {
        SessionId id = next_id++;
        game->on_connect(id, std::move(ip), now);
        return id;
    }
    void line(SessionId s, std::string_view text) { game->on_message(s, Out("text").arg(text).str(), now); }
    SessionId player(std::string_view name, std::string ip = "10.0.0.1") {
        SessionId s = connect(std::move(ip));
        line(s, fmt_create(name));
        finish();
        return s;
    }
    static std::string fmt_create(std::string_view name) { return "create " + std::string(name) + " secret1"; }
    void advance(std::chrono::milliseconds d) {
        // Tick every 50 ms like the server does.
        for (auto t = 0ms; t < d; t += 50ms) {
            now += 50ms;
            game->tick(now);
        }
    }
    std::vector<std::string> take(SessionId s) { return std::exchange(host.sent[s], {}); }
    static bool any_has(const std::vector<std::string>& msgs, std::string_view needle) {
        for (auto& m : msgs) {
            if (m.find(needle) != std::string::npos) return true;
        }
        return false;
    }
    static std::string dump(const std::vector<std::string>& msgs) {
        std::string out;
        for (auto& m : msgs) out += m + "\n";
        return out;
    }
};

// Each evaluates `msgs` once (it is often take(...)).
#define EXPECT_SENT(msgs, needle)                                                          \
    do {                                                                                   \
        const auto& sent_ = (msgs);                                                        \
        EXPECT_TRUE(any_has(sent_, needle)) << "no " << (needle) << " in:\n" << dump(sent_); \
    } while (0)
#define EXPECT_NOT_SENT(msgs, needle)                                                              \
    do {                                                                                           \
        const auto& sent_ = (msgs);                                                                \
        EXPECT_FALSE(any_has(sent_, needle)) << "unexpected " << (needle) << " in:\n" << dump(sent_); \
    } while (0)

}  // namespace

TEST_F(GameTest, CreateLogsInAndShowsTheStartRoomAndStatus) {
    SessionId a = player("alice");
    auto msgs = take(a);
    EXPECT_SENT(msgs, R"(["logged_in",[],{"name":"Alice","token":")");
    EXPECT_SENT(msgs, R"(["room",[],{"id":"square","name":"Square")");
    EXPECT_SENT(msgs, R"(["status",[],{"name":"Alice","hp":20,"max_hp":20,"room":"Square","combat":""}])");
    EXPECT_EQ(game->stats().players_online, 1u);
}

TEST_F(GameTest, CommandsBeforeLoginAreRefused) {
    SessionId s = connect();
    line(s, "look");
    EXPECT_SENT(take(s), R"({"code":"not_logged_in"})");
}

TEST_F(GameTest, BadNamesAndPasswordsAreRefusedWithTheirCode) {
    SessionId s = connect();
    for (auto bad : {"create al secret1", "create al1ce secret1", "create admin secret1", "create rabbit secret1",
                     "create abcdefghijklmnopq secret1"}) {
        line(s, bad);
        SCOPED_TRACE(bad);
        EXPECT_SENT(take(s), R"({"code":"bad_name"})");
    }
    line(s, "create alice short");
    EXPECT_SENT(take(s), R"({"code":"bad_password"})");
    EXPECT_TRUE(host.creates.empty());
}

TEST_F(GameTest, DuplicateNameIsTakenCaseInsensitively) {
    player("alice");
    SessionId s = connect();
    line(s, "create ALICE secret2");
    finish();
    EXPECT_SENT(take(s), R"({"code":"name_taken"})");
}

TEST_F(GameTest, SayReachesTheRoomOnlyWithStructuredFields) {
    SessionId a = player("alice"), b = player("bob"), c = player("carol");
    line(c, "north");
    take(a), take(b), take(c);
    line(a, "say hello there");
    EXPECT_SENT(take(b), R"(["text",["Alice says, \"hello there\""],{"type":"say","from":"Alice","msg":"hello there"}])");
    EXPECT_SENT(take(a), R"(You say, \"hello there\")");
    EXPECT_NOT_SENT(take(c), "hello there");
}

TEST_F(GameTest, MovingTellsBothRoomsWithDirections) {
    SessionId a = player("alice"), b = player("bob");
    take(a), take(b);
    line(a, "n");
    EXPECT_SENT(take(b), R"(["room_leave",["Alice"],{"kind":"player","to":"north"}])");
    EXPECT_SENT(take(a), R"(["room",[],{"id":"field")");
    line(b, "north");
    EXPECT_SENT(take(a), R"(["room_enter",["Bob"],{"kind":"player","from":"south"}])");
    line(b, "go south");
    line(b, "gate");
    EXPECT_SENT(take(b), R"({"id":"yard")");
    line(b, "west");
    EXPECT_SENT(take(b), "You can't go that way.");
}

TEST_F(GameTest, GlobalChannelReachesEveryoneAndCustomChannelsOnlyMembers) {
    SessionId a = player("alice"), b = player("bob"), c = player("carol");
    line(b, "north");
    take(a), take(b), take(c);
    line(a, "global hi all");
    std::string expected = R"(["text",["[global] Alice: hi all"],{"type":"channel","channel":"global","from":"Alice","msg":"hi all"}])";
    EXPECT_SENT(take(b), expected);
    EXPECT_SENT(take(c), expected);
    EXPECT_SENT(take(a), expected);
    line(a, "join guild");
    line(b, "join guild");
    take(a), take(b);
    line(a, "guild secret plans");
    EXPECT_SENT(take(b), R"("channel":"guild")");
    EXPECT_NOT_SENT(take(c), "secret plans");
    line(b, "leave guild");
    line(a, "guild again");
    EXPECT_NOT_SENT(take(b), "[guild] Alice: again");
}

TEST_F(GameTest, TellReachesOnePlayerAnywhere) {
    SessionId a = player("alice"), b = player("bob"), c = player("carol");
    line(b, "north");
    take(a), take(b), take(c);
    line(a, "tell bob psst");
    EXPECT_SENT(take(b), R"({"type":"tell","from":"Alice","to":"Bob","msg":"psst"})");
    EXPECT_NOT_SENT(take(c), "psst");
    line(a, "tell nobody hi");
    EXPECT_SENT(take(a), "is not online");
}

TEST_F(GameTest, UnknownCommandAndTooLongLineKeepTheSession) {
    GameOptions o;
    o.max_line_bytes = 32;
    make(o);
    SessionId a = player("alice");
    take(a);
    line(a, "dance wildly");
    EXPECT_SENT(take(a), R"({"code":"unknown_command"})");
    line(a, "say " + std::string(40, 'x'));
    EXPECT_SENT(take(a), R"({"code":"too_long"})");
    game->on_message(a, "{nope", now);
    EXPECT_SENT(take(a), R"({"code":"bad_json"})");
    line(a, "look");
    EXPECT_SENT(take(a), R"(["room",[])");
    EXPECT_TRUE(host.closed.empty());
}

TEST_F(GameTest, RateLimitBuffersAFewThenRefusesAndRunsTheHeldOnesLater) {
    GameOptions o;
    o.commands_per_second = 1;
    o.command_burst = 2;
    o.max_pending_commands = 2;
    make(o);
    SessionId a = player("alice");  // the create used one token
    advance(2000ms);
    take(a);
    for (int i = 0; i < 6; ++i) line(a, "say m" + std::to_string(i));
    auto burst = take(a);
    EXPECT_SENT(burst, "m0");
    EXPECT_SENT(burst, "m1");
    EXPECT_NOT_SENT(burst, "m2");
    int refused = 0;
    for (auto& m : burst) refused += m.find("rate_limited") != std::string::npos;
    EXPECT_EQ(refused, 2);
    advance(2100ms);
    auto later = take(a);
    EXPECT_SENT(later, "m2");
    EXPECT_SENT(later, "m3");
    EXPECT_NOT_SENT(later, "m4");
}

TEST_F(GameTest, SecondLoginTakesTheCharacterOver) {
    SessionId a = player("alice");
    SessionId a2 = connect();
    line(a2, "connect alice secret1");
    finish();
    EXPECT_SENT(take(a), R"(["bye",["Your character was taken over)");
    EXPECT_EQ(host.closed[a], 1000);
    EXPECT_SENT(take(a2), R"(["logged_in",[],{"name":"Alice")");
    EXPECT_EQ(game->stats().players_online, 1u);
    line(a2, "look");
    EXPECT_SENT(take(a2), R"(["room",[])");
}

TEST_F(GameTest, ResumeWithinGraceKeepsTheCharacterAndAfterGraceFails) {
    GameOptions o;
    o.resume_grace = 5s;
    make(o);
    SessionId a = player("alice"), b = player("bob");
    auto msgs = take(a);
    std::string token;
    for (auto& m : msgs) {
        if (auto p = m.find("\"token\":\""); p != std::string::npos) token = m.substr(p + 9, 64);
    }
    ASSERT_EQ(token.size(), 64u);
    line(a, "get stick");
    take(b);
    game->on_disconnect(a, now);
    EXPECT_SENT(take(b), "Alice has lost their connection.");
    advance(2000ms);
    SessionId a2 = connect();
    game->on_message(a2, Out("resume").arg(token).str(), now);
    auto back = take(a2);
    EXPECT_SENT(back, R"("resumed":true)");
    line(a2, "inventory");
    EXPECT_SENT(take(a2), "a stick");
    game->on_disconnect(a2, now);
    advance(6000ms);
    EXPECT_EQ(game->stats().players_online, 1u);
    ASSERT_FALSE(host.saves.empty());
    EXPECT_EQ(host.saves.back().back().inventory, std::vector<std::string>{"stick"});
    SessionId a3 = connect();
    game->on_message(a3, Out("resume").arg(token).str(), now);
    EXPECT_SENT(take(a3), R"({"code":"resume_failed"})");
}

TEST_F(GameTest, FailedLoginsFromOneAddressAreThrottled) {
    GameOptions o;
    o.max_failed_logins = 3;
    o.login_window = 60s;
    make(o);
    player("alice", "10.0.0.9");
    SessionId s = connect("10.0.0.5");
    for (int i = 0; i < 3; ++i) {
        line(s, "connect alice wrongpw");
        finish();
    }
    EXPECT_SENT(take(s), R"({"code":"login_failed"})");
    line(s, "connect alice secret1");
    EXPECT_SENT(take(s), R"({"code":"throttled"})");
    EXPECT_TRUE(host.logins.empty());
    SessionId other = connect("10.0.0.6");  // another address is not affected
    line(other, "connect alice secret1");
    finish();
    EXPECT_SENT(take(other), "logged_in");
    now += 61s;
    line(s, "connect alice secret1");
    finish();
    EXPECT_SENT(take(s), "logged_in");
}

TEST_F(GameTest, AccountCreationIsThrottledPerAddress) {
    GameOptions o;
    o.max_creates = 2;
    make(o);
    player("alice");
    player("bob");
    SessionId s = connect();
    line(s, "create carol secret1");
    EXPECT_SENT(take(s), R"({"code":"throttled"})");
}

TEST_F(GameTest, TooManyConnectionsFromOneAddressAreClosed) {
    GameOptions o;
    o.max_connections_per_ip = 2;
    make(o);
    connect("10.1.1.1");
    SessionId b = connect("10.1.1.1");
    SessionId c = connect("10.1.1.1");
    EXPECT_SENT(take(c), R"({"code":"too_many_connections"})");
    EXPECT_EQ(host.closed.count(b), 0u);
    EXPECT_EQ(host.closed[c], 1008);
    game->on_disconnect(c, now);
    game->on_disconnect(b, now);
    SessionId d = connect("10.1.1.1");
    EXPECT_EQ(host.closed.count(d), 0u);
}

TEST_F(GameTest, ItemsCanBeTakenDroppedAndGiven) {
    SessionId a = player("alice"), b = player("bob");
    take(a), take(b);
    line(a, "get fountain");
    EXPECT_SENT(take(a), "You can't take a fountain.");
    line(a, "get stick");
    EXPECT_SENT(take(b), "Alice picks up a stick.");
    line(a, "i");
    EXPECT_SENT(take(a), "a stick");
    line(a, "give stick bob");
    EXPECT_SENT(take(b), "Alice gives you a stick.");
    line(b, "drop stick");
    line(a, "look");
    EXPECT_SENT(take(a), R"("items":["a fountain","a stick"])");
    line(a, "get all");
    EXPECT_SENT(take(a), "You pick up a stick.");
}

TEST_F(GameTest, KillingAnNpcCountsDropsAndItRespawns) {
    SessionId a = player("alice");
    line(a, "get stick");  // +2 damage: 3..6 kills the 3 HP rabbit in one round
    line(a, "north");
    take(a);
    line(a, "attack rabbit");
    EXPECT_SENT(take(a), R"("combat":"a rabbit")");
    advance(2100ms);
    auto msgs = take(a);
    EXPECT_SENT(msgs, "A rabbit dies!");
    EXPECT_EQ(game->stats().npc_kills_total, 1u);
    line(a, "look");
    EXPECT_SENT(take(a), R"("npcs":[])");
    advance(31000ms);
    EXPECT_SENT(take(a), R"(["room_enter",["A rabbit"],{"kind":"npc","from":""}])");
}

TEST_F(GameTest, AggressiveNpcAttacksAndADeadPlayerRespawnsAtStartWithoutItems) {
    SessionId a = player("alice"), b = player("bob");
    line(a, "get stick");
    line(a, "north");
    line(a, "east");
    take(a);
    EXPECT_EQ(game->stats().player_deaths_total, 0u);
    advance(2100ms);
    auto msgs = take(a);
    EXPECT_SENT(msgs, "A grey wolf hits you for 50 damage.");
    EXPECT_SENT(msgs, "You die!");
    EXPECT_SENT(msgs, R"(["room",[],{"id":"square")");
    EXPECT_SENT(msgs, R"("hp":20,"max_hp":20,"room":"Square")");
    EXPECT_EQ(game->stats().player_deaths_total, 1u);
    line(a, "i");
    EXPECT_SENT(take(a), "You are carrying nothing.");
    EXPECT_SENT(take(b), R"(["room_enter",["Alice"])");
}

TEST_F(GameTest, NoFightingInSafeRoomsOrWithPlayers) {
    SessionId a = player("alice");
    player("bob");
    take(a);
    line(a, "attack bob");
    EXPECT_SENT(take(a), "place of peace");
    line(a, "gate");
    line(a, "attack bob");
    EXPECT_SENT(take(a), "You see no");
}

TEST_F(GameTest, FleeLeavesTheFightSometimes) {
    SessionId a = player("alice");
    line(a, "gate");
    line(a, "attack guard");
    bool fled = false;
    for (int i = 0; i < 20 && !fled; ++i) {
        line(a, "flee");
        fled = any_has(take(a), "You flee");
        advance(200ms);
    }
    EXPECT_TRUE(fled);
}

TEST_F(GameTest, NpcsGreetAndAnswerKeywords) {
    SessionId a = player("alice");
    take(a);
    line(a, "gate");
    EXPECT_SENT(take(a), "A guard nods at Alice.");
    line(a, "say well hello");
    EXPECT_SENT(take(a), R"(A guard says, \"Move along.\")");
}

TEST_F(GameTest, AdminsKickAndBanOthersCannot) {
    GameOptions o;
    o.admins = {"Root"};
    make(o);
    SessionId root = player("root"), bob = player("bob"), eve = player("eve");
    take(root), take(bob), take(eve);
    line(eve, "kick bob");
    EXPECT_SENT(take(eve), R"({"code":"unknown_command"})");
    line(root, "announce maintenance soon");
    EXPECT_SENT(take(bob), R"(*** maintenance soon ***)");
    line(root, "kick bob spamming");
    EXPECT_SENT(take(bob), R"(["bye",["You have been kicked: spamming"],{}])");
    EXPECT_EQ(host.closed[bob], 1008);
    line(root, "ban eve");
    EXPECT_EQ(host.closed[eve], 1008);
    SessionId again = connect("10.9.9.9");
    line(again, "connect eve secret1");
    finish();
    EXPECT_SENT(take(again), R"({"code":"banned"})");
    line(root, "unban eve");
    line(again, "connect eve secret1");
    finish();
    EXPECT_SENT(take(again), "logged_in");
}

TEST_F(GameTest, QuitAndAutosaveWriteTheCharacter) {
    GameOptions o;
    o.autosave_interval = 10s;
    make(o);
    SessionId a = player("alice"), b = player("bob");
    line(a, "north");
    advance(10100ms);
    ASSERT_FALSE(host.saves.empty());
    bool saw_field = false;
    for (auto& batch : host.saves) {
        for (auto& c : batch) saw_field |= c.name == "Alice" && c.room == "field";
    }
    EXPECT_TRUE(saw_field);
    host.saves.clear();
    line(b, "get stick");
    line(b, "quit");
    ASSERT_EQ(host.saves.size(), 1u);
    EXPECT_EQ(host.saves[0][0].inventory, std::vector<std::string>{"stick"});
    EXPECT_EQ(host.closed[b], 1000);
    EXPECT_EQ(game->stats().players_online, 1u);
}

TEST_F(GameTest, ShutdownWarnsSavesEveryoneAndCompletes) {
    SessionId a = player("alice"), b = player("bob");
    take(a), take(b);
    game->begin_shutdown(5s, "maintenance", now);
    EXPECT_SENT(take(a), "The server will shut down in 5 seconds (maintenance).");
    advance(3000ms);
    EXPECT_FALSE(host.complete);
    SessionId late = connect();
    line(late, "create carol secret1");
    EXPECT_SENT(take(late), R"({"code":"server_busy"})");
    advance(2100ms);
    EXPECT_TRUE(host.complete);
    EXPECT_SENT(take(b), R"(["bye",["The server is shutting down.)");
    ASSERT_FALSE(host.saves.empty());
    EXPECT_EQ(host.saves.back().size(), 2u);
}

TEST_F(GameTest, IdleSessionsAreClosedAndSaved) {
    GameOptions o;
    o.idle_timeout = 60s;
    make(o);
    SessionId a = player("alice");
    SessionId b = player("bob");
    for (int i = 0; i < 7; ++i) {
        advance(10000ms);
        line(b, "look");
    }
    EXPECT_SENT(take(a), R"(["bye",["You were idle too long."],{}])");
    EXPECT_EQ(host.closed.count(b), 0u);
    EXPECT_EQ(game->stats().players_online, 1u);
}

TEST_F(GameTest, HelpListsEveryCommandOfTheTable) {
    SessionId a = player("alice");
    take(a);
    line(a, "help");
    auto msgs = take(a);
    for (auto cmd : {"look", "say", "emote", "tell", "chat", "join", "leave", "who", "inventory", "get", "drop",
                     "give", "examine", "attack", "flee", "quit"}) {
        EXPECT_SENT(msgs, std::string("  ") + cmd);
    }
    EXPECT_NOT_SENT(msgs, "announce");  // admin commands only for admins
    line(a, "help say");
    EXPECT_SENT(take(a), "say <message>");
}

TEST_F(GameTest, WhoListsPlayersAsStructuredData) {
    SessionId a = player("alice");
    player("bob");
    take(a);
    game->on_message(a, R"(["who",[],{}])", now);
    EXPECT_SENT(take(a), R"(["who",[],{"count":2,"players":[{"name":"Alice","room":"Square","idle":0,"admin":false},{"name":"Bob")");
}

TEST_F(GameTest, PingEchoesItsKwargs) {
    SessionId s = connect();
    game->on_message(s, R"(["ping",[],{"t":12345}])", now);
    EXPECT_SENT(take(s), R"(["pong",[],{"t":12345}])");
}

TEST_F(GameTest, ConnectVoidsTheOldResumeTokenEvenAfterQuit) {
    SessionId a = player("alice");
    std::string token;
    for (auto& m : take(a)) {
        if (auto p = m.find("\"token\":\""); p != std::string::npos) token = m.substr(p + 9, 64);
    }
    ASSERT_EQ(token.size(), 64u);
    game->on_disconnect(a, now);
    SessionId a2 = connect();
    line(a2, "connect alice secret1");
    finish();
    EXPECT_SENT(take(a2), R"("resumed":false)");
    line(a2, "quit");
    SessionId a3 = connect();
    game->on_message(a3, Out("resume").arg(token).str(), now);  // was a use-after-free
    EXPECT_SENT(take(a3), R"({"code":"resume_failed"})");
}

TEST_F(GameTest, CrowdedRoomsStopAnnouncingArrivalsButStillCarrySpeech) {
    GameOptions o;
    o.crowd_threshold = 3;
    o.max_creates = 100;
    make(o);
    SessionId a = player("alice");
    player("bob");
    player("carol");
    take(a);
    player("dave");  // announced: the square held 3
    EXPECT_SENT(take(a), R"(["room_enter",["Dave"])");
    SessionId e = player("erin");  // not announced: it held 4 > 3
    EXPECT_NOT_SENT(take(a), "room_enter");
    line(e, "say hello crowd");
    EXPECT_SENT(take(a), "hello crowd");
    line(e, "north");
    EXPECT_NOT_SENT(take(a), "room_leave");
}

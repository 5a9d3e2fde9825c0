// world_test: the shipped default world loads and is fully connected, and every kind of bad
// world file is refused with a message that names the place of the problem.
#include "world.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <queue>
#include <string>
#include <vector>

namespace {

using mud::World;

const char* const default_world_path = MUD_SHARE_DIR "/worlds/default.json";

// The WorldError message for `json`, or "<no error>".
std::string error_of(std::string_view json) {
    try {
        mud::parse_world(json);
    } catch (const mud::WorldError& e) {
        return e.what();
    }
    return "<no error>";
}

std::string room(std::string_view id, std::string_view more = "") {
    return R"({"id":")" + std::string(id) + R"(","name":"Room","desc":"A room.")" +
           std::string(more) + "}";
}

// A world with the given rooms (comma-separated objects) and extra top-level fields.
std::string world(std::string_view rooms, std::string_view extra = "",
                  std::string_view start = "a") {
    return R"({"name":"Test","start":")" + std::string(start) + R"(","rooms":[)" +
           std::string(rooms) + "]" + std::string(extra) + "}";
}

std::string with_npc(std::string_view fields) {
    return world(room("a", R"(,"npcs":["n"])"),
                 R"(,"npcs":[{"id":"n","name":"a newt","keywords":["newt"],"desc":"Small.")" +
                     std::string(fields) + "}]");
}

std::vector<bool> reachable_from(const World& w, std::uint32_t from) {
    std::vector<bool> seen(w.rooms.size());
    std::queue<std::uint32_t> todo;
    seen[from] = true;
    todo.push(from);
    while (!todo.empty()) {
        auto r = todo.front();
        todo.pop();
        for (const auto& x : w.rooms[r].exits) {
            if (!seen[x.to]) {
                seen[x.to] = true;
                todo.push(x.to);
            }
        }
    }
    return seen;
}

class DefaultWorld : public testing::Test {
  protected:
    static void SetUpTestSuite() { s_world = new World(mud::load_world(default_world_path)); }
    static void TearDownTestSuite() {
        delete s_world;
        s_world = nullptr;
    }
    static World* s_world;
};
World* DefaultWorld::s_world = nullptr;

TEST_F(DefaultWorld, LoadsWithEnoughRoomsItemsAndNpcs) {
    const auto& w = *s_world;
    EXPECT_EQ(w.name, "Duskhollow");
    EXPECT_GE(w.rooms.size(), 25u);
    EXPECT_GE(w.items.size(), 15u);
    EXPECT_GE(w.npcs.size(), 10u);
}

TEST_F(DefaultWorld, EveryRoomIsReachableFromStart) {
    const auto& w = *s_world;
    auto seen = reachable_from(w, w.start);
    for (std::size_t r = 0; r < w.rooms.size(); ++r) {
        EXPECT_TRUE(seen[r]) << w.rooms[r].id << " is not reachable from start";
    }
}

TEST_F(DefaultWorld, StartIsReachableFromEveryRoom) {
    const auto& w = *s_world;
    for (std::uint32_t r = 0; r < w.rooms.size(); ++r) {
        EXPECT_TRUE(reachable_from(w, r)[w.start]) << w.rooms[r].id << " is a dead end";
    }
}

TEST_F(DefaultWorld, StartIsSafe) { EXPECT_TRUE(s_world->rooms[s_world->start].safe); }

TEST_F(DefaultWorld, NoAggressiveNpcLivesInASafeRoom) {
    for (const auto& r : s_world->rooms) {
        if (!r.safe) continue;
        for (auto n : r.npcs) EXPECT_FALSE(s_world->npcs[n].aggressive) << r.id;
    }
}

TEST_F(DefaultWorld, HasWeaponsFixturesAndABoss) {
    const auto& w = *s_world;
    int weapons = 0, fixtures = 0, toughest = 0;
    for (const auto& i : w.items) {
        weapons += i.damage > 0;
        fixtures += !i.takeable;
    }
    for (const auto& n : w.npcs) toughest = std::max(toughest, n.hp);
    EXPECT_GE(weapons, 5);
    EXPECT_GE(fixtures, 3);
    EXPECT_GT(toughest, 20) << "no creature tougher than a fresh player";
}

TEST(ParseWorld, AppliesDefaultsToOptionalFields) {
    auto w = mud::parse_world(world(room("a"), R"(,"items":[{"id":"rock","name":"a rock",)"
                                               R"("keywords":["rock"],"desc":"Grey."}],)"
                                               R"("npcs":[{"id":"n","name":"a newt",)"
                                               R"("keywords":["newt"],"desc":"Small."}])"));
    ASSERT_EQ(w.rooms.size(), 1u);
    EXPECT_EQ(w.rooms[0].area, "");
    EXPECT_FALSE(w.rooms[0].safe);
    EXPECT_TRUE(w.rooms[0].exits.empty());
    EXPECT_EQ(w.items[0].damage, 0);
    EXPECT_TRUE(w.items[0].takeable);
    const auto& n = w.npcs[0];
    EXPECT_EQ(n.hp, 10);
    EXPECT_EQ(n.damage_min, 1);
    EXPECT_EQ(n.damage_max, 3);
    EXPECT_FALSE(n.aggressive);
    EXPECT_EQ(n.wander, 0.0);
    EXPECT_EQ(n.respawn_s, 60);
    EXPECT_EQ(n.greet, "");
    EXPECT_TRUE(n.responses.empty() && n.chatter.empty() && n.items.empty());
}

TEST(ParseWorld, ResolvesForwardReferencesAndKeepsExitOrder) {
    auto w = mud::parse_world(world(
        room("a", R"(,"exits":{"west":"c","up":"b","gate":"c"},"items":["rock"],"npcs":["n"])") +
            "," + room("b") + "," + room("c"),
        R"(,"items":[{"id":"rock","name":"a rock","keywords":["rock"],"desc":"Grey."}],)"
        R"("npcs":[{"id":"n","name":"a newt","keywords":["newt"],"desc":"Small.",)"
        R"("items":["rock"],"responses":{"hello":"blinks.","quest":"shrugs."}}])",
        "b"));
    EXPECT_EQ(w.start, 1u);
    const auto& exits = w.rooms[0].exits;
    ASSERT_EQ(exits.size(), 3u);
    EXPECT_EQ(exits[0].dir, "west");
    EXPECT_EQ(exits[0].to, 2u);
    EXPECT_EQ(exits[1].dir, "up");
    EXPECT_EQ(exits[1].to, 1u);
    EXPECT_EQ(exits[2].dir, "gate");
    EXPECT_EQ(w.rooms[0].items, std::vector<std::uint32_t>{0});
    EXPECT_EQ(w.rooms[0].npcs, std::vector<std::uint32_t>{0});
    EXPECT_EQ(w.npcs[0].items, std::vector<std::uint32_t>{0});
    ASSERT_EQ(w.npcs[0].responses.size(), 2u);
    EXPECT_EQ(w.npcs[0].responses[1].first, "quest");
}

TEST(ParseWorld, FindRoomAndFindItemReturnIndexOrMinusOne) {
    auto w = mud::parse_world(
        world(room("a") + "," + room("b"),
              R"(,"items":[{"id":"rock","name":"a rock","keywords":["rock"],"desc":"Grey."}])"));
    EXPECT_EQ(w.find_room("b"), 1);
    EXPECT_EQ(w.find_room("nowhere"), -1);
    EXPECT_EQ(w.find_item("rock"), 0);
    EXPECT_EQ(w.find_item("b"), -1);
}

TEST(NpcLine, CapitalisesTheNpcNameAndFillsInThePlayer) {
    mud::NpcTemplate rat;
    rat.name = "a sewer rat";
    EXPECT_EQ(mud::npc_line(rat, "squeaks at {name}.", "Alice"), "A sewer rat squeaks at Alice.");
    EXPECT_EQ(mud::npc_line(rat, "squeaks."), "A sewer rat squeaks.");
}

TEST(ParseWorldErrors, InvalidJsonIncludesSimdjsonMessage) {
    auto msg = error_of(R"({"name":"T",)");
    EXPECT_TRUE(msg.starts_with("invalid JSON: ")) << msg;
    EXPECT_GT(msg.size(), std::string("invalid JSON: ").size());
}

TEST(ParseWorldErrors, TopLevelMustBeAnObject) {
    EXPECT_EQ(error_of("[1,2]"), "top level: must be an object (got array)");
}

TEST(ParseWorldErrors, MissingRequiredFieldNamesIt) {
    EXPECT_EQ(error_of(world(room("a") + R"(,{"id":"b","name":"B"})")),
              "rooms[1].desc: missing (required string)");
    EXPECT_EQ(error_of(R"({"start":"a","rooms":[]})"), "name: missing (required string)");
}

TEST(ParseWorldErrors, WrongTypeNamesFieldAndTypes) {
    EXPECT_EQ(error_of(world(room("a", R"(,"safe":"yes")"))),
              "rooms[0].safe: must be a boolean (got string)");
    EXPECT_EQ(error_of(world(room("a", R"(,"exits":["north"])"))),
              "rooms[0].exits: must be an object (got array)");
}

TEST(ParseWorldErrors, UnknownFieldIsReportedAsTypo) {
    EXPECT_EQ(error_of(world(room("a", R"(,"exit":{})"))), "rooms[0]: unknown field \"exit\"");
}

TEST(ParseWorldErrors, DuplicateFieldIsRejected) {
    EXPECT_EQ(error_of(world(room("a", R"(,"name":"Again")"))),
              "rooms[0]: duplicate field \"name\"");
}

TEST(ParseWorldErrors, EmptyRoomsIsRejected) {
    EXPECT_EQ(error_of(world("")), "rooms: must not be empty (a world needs at least one room)");
}

TEST(ParseWorldErrors, UnknownExitTargetNamesRoomAndExit) {
    EXPECT_EQ(error_of(world(room("a") + "," + room("b", R"(,"exits":{"north":"cellar"})"))),
              "rooms[1].exits.north: unknown room \"cellar\"");
}

TEST(ParseWorldErrors, UnknownStartRoom) {
    EXPECT_EQ(error_of(world(room("a"), "", "nowhere")), "start: unknown room \"nowhere\"");
}

TEST(ParseWorldErrors, DuplicateRoomIdNamesBothPlaces) {
    EXPECT_EQ(error_of(world(room("square") + "," + room("square"), "", "square")),
              "rooms[1]: duplicate id \"square\" (first at rooms[0])");
}

TEST(ParseWorldErrors, DuplicateItemId) {
    auto item = R"({"id":"rock","name":"a rock","keywords":["rock"],"desc":"Grey."})";
    EXPECT_EQ(error_of(world(room("a"), std::string(R"(,"items":[)") + item + "," + item + "]")),
              "items[1]: duplicate id \"rock\" (first at items[0])");
}

TEST(ParseWorldErrors, UnknownItemInRoom) {
    EXPECT_EQ(error_of(world(room("a", R"(,"items":["torch"])"))),
              "rooms[0].items[0]: unknown item \"torch\"");
}

TEST(ParseWorldErrors, UnknownNpcInRoom) {
    EXPECT_EQ(error_of(world(room("a", R"(,"npcs":["rat"])"))),
              "rooms[0].npcs[0]: unknown NPC \"rat\"");
}

TEST(ParseWorldErrors, UnknownItemCarriedByNpc) {
    EXPECT_EQ(error_of(with_npc(R"(,"items":["cheese"])")),
              "npcs[0].items[0]: unknown item \"cheese\"");
}

TEST(ParseWorldErrors, NpcCannotCarryAFixture) {
    EXPECT_EQ(error_of(world(room("a"), R"(,"items":[{"id":"well","name":"a well",)"
                                        R"("keywords":["well"],"desc":"Deep.","takeable":false}],)"
                                        R"("npcs":[{"id":"n","name":"a newt","keywords":["newt"],)"
                                        R"("desc":"Small.","items":["well"]}])")),
              "npcs[0].items[0]: item \"well\" is not takeable");
}

TEST(ParseWorldErrors, DamageMinGreaterThanMax) {
    EXPECT_EQ(error_of(with_npc(R"(,"damage":[5,2])")),
              "npcs[0].damage: min 5 is greater than max 2");
    EXPECT_EQ(error_of(with_npc(R"(,"damage":[1])")), "npcs[0].damage: must be [min, max]");
    EXPECT_EQ(error_of(with_npc(R"(,"damage":[1,-2])")),
              "npcs[0].damage[1]: must be an integer in [0, 1000] (got -2)");
}

TEST(ParseWorldErrors, HpMustBeAPositiveInteger) {
    EXPECT_EQ(error_of(with_npc(R"(,"hp":0)")), "npcs[0].hp: must be a positive integer (got 0)");
    EXPECT_EQ(error_of(with_npc(R"(,"hp":8.5)")),
              "npcs[0].hp: must be a positive integer (got number)");
    EXPECT_EQ(error_of(with_npc(R"(,"hp":"8")")),
              "npcs[0].hp: must be a positive integer (got string)");
}

TEST(ParseWorldErrors, WanderOutsideZeroToOne) {
    EXPECT_EQ(error_of(with_npc(R"(,"wander":1.5)")),
              "npcs[0].wander: must be a number in [0, 1] (got 1.5)");
    EXPECT_EQ(error_of(with_npc(R"(,"wander":-1)")),
              "npcs[0].wander: must be a number in [0, 1] (got -1)");
    EXPECT_EQ(error_of(with_npc(R"(,"wander":true)")),
              "npcs[0].wander: must be a number (got boolean)");
}

TEST(ParseWorldErrors, IdWithBadCharacters) {
    EXPECT_EQ(error_of(world(room("Town Square"))),
              "rooms[0].id: bad id \"Town Square\": must be 1-64 characters of [a-z0-9_]");
    EXPECT_EQ(error_of(world(room("a", R"(,"exits":{"north":"B-2"})"))),
              "rooms[0].exits.north: bad id \"B-2\": must be 1-64 characters of [a-z0-9_]");
}

TEST(ParseWorldErrors, ExitDirectionMustBeLowercaseLetters) {
    EXPECT_EQ(error_of(world(room("a", R"(,"exits":{"North":"a"})"))),
              "rooms[0].exits: bad direction \"North\": must be lowercase letters [a-z]+");
}

TEST(ParseWorldErrors, DuplicateExitDirection) {
    EXPECT_EQ(error_of(world(room("a", R"(,"exits":{"up":"a","up":"a"})"))),
              "rooms[0].exits: duplicate exit \"up\"");
}

TEST(ParseWorldErrors, KeywordsMustBeLowercaseWords) {
    auto item = [](std::string_view keywords) {
        return world(room("a"), R"(,"items":[{"id":"rock","name":"a rock","keywords":)" +
                                    std::string(keywords) + R"(,"desc":"Grey."}])");
    };
    EXPECT_EQ(error_of(item(R"(["Rock"])")),
              "items[0].keywords[0]: bad keyword \"Rock\": must be one lowercase word of [a-z0-9]");
    EXPECT_EQ(error_of(item("[]")), "items[0].keywords: must not be empty");
    EXPECT_EQ(error_of(with_npc(R"(,"responses":{"Hello there":"waves."})")),
              "npcs[0].responses: bad keyword \"Hello there\": must be one lowercase word of "
              "[a-z0-9]");
}

TEST(ParseWorldErrors, TextMustBeOneLineAndNonEmpty) {
    EXPECT_EQ(error_of(world(R"({"id":"a","name":"A","desc":"Line\none"})")),
              "rooms[0].desc: must not contain control characters");
    EXPECT_EQ(error_of(world(R"({"id":"a","name":"","desc":"A room."})")),
              "rooms[0].name: must not be empty");
}

TEST(ParseWorldErrors, LoneSurrogateEscapeIsInvalidUtf8) {
    auto msg = error_of(world(R"({"id":"a","name":"\ud800","desc":"A room."})"));
    EXPECT_TRUE(msg.starts_with("invalid JSON: ")) << msg;
}

TEST(ParseWorldErrors, UnknownPlaceholderInNpcLineOrAnyInChatter) {
    EXPECT_EQ(error_of(with_npc(R"(,"greet":"waves at {nmae}.")")),
              "npcs[0].greet: the only placeholder allowed is {name}");
    EXPECT_EQ(error_of(with_npc(R"(,"chatter":["Hello, {name}!"])")),
              "npcs[0].chatter[0]: chatter is said as is: no {...} placeholders");
}

TEST(LoadWorld, MissingFileMessageStartsWithPath) {
    std::string path = "/nonexistent/dir/world.json";
    try {
        mud::load_world(path);
        FAIL() << "no error";
    } catch (const mud::WorldError& e) {
        EXPECT_EQ(std::string(e.what()), path + ": cannot open: No such file or directory");
    }
}

TEST(LoadWorld, ParseErrorMessageStartsWithPath) {
    auto path = std::filesystem::temp_directory_path() /
                ("world_test_" + std::to_string(getpid()) + ".json");
    {
        std::ofstream out(path);
        out << world(room("a"), "", "nowhere");
    }
    std::string msg;
    try {
        mud::load_world(path);
    } catch (const mud::WorldError& e) {
        msg = e.what();
    }
    std::filesystem::remove(path);
    EXPECT_EQ(msg, path.string() + ": start: unknown room \"nowhere\"");
}

}  // namespace

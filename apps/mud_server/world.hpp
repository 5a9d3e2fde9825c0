// world.hpp: the static world of the MUD (rooms, exits, item and NPC templates), loaded
// from a JSON file. Pure data: the game copies what it mutates (items on the floor, live
// NPCs) into its own state. Loading checks every reference and reports the first problem
// with its place in the file ("rooms[3].exits.north: unknown room \"cellar\"").
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mud {

// A bad world file: the message says what and where.
class WorldError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Exit {
    std::string dir;     // "north", "up", "gate", ... (lowercase)
    std::uint32_t to;    // index into World::rooms
};

struct Room {
    std::string id;
    std::string name;
    std::string desc;
    std::string area;                    // wandering NPCs stay in their home's area ("" = any)
    bool safe = false;                   // no combat here
    std::vector<Exit> exits;             // in file order
    std::vector<std::uint32_t> items;    // item templates lying here at start (indexes into World::items)
    std::vector<std::uint32_t> npcs;     // NPC templates whose home is this room
};

struct ItemTemplate {
    std::string id;
    std::string name;                    // "a wooden torch"
    std::vector<std::string> keywords;   // lowercase; "torch", "wooden"
    std::string desc;
    int damage = 0;                      // weapon bonus added to the carrier's hits
    bool takeable = true;
};

struct NpcTemplate {
    std::string id;
    std::string name;                    // "a sewer rat"
    std::vector<std::string> keywords;   // lowercase
    std::string desc;
    int hp = 10;
    int damage_min = 1;
    int damage_max = 3;
    bool aggressive = false;             // attacks players who enter its room
    double wander = 0.0;                 // chance per wander check (every few seconds) to move
    int respawn_s = 60;                  // seconds after death until it reappears at home
    std::string greet;                   // said/emoted when a player enters; "{name}" = the player; "" = none
    std::vector<std::pair<std::string, std::string>> responses;  // lowercase keyword in a say -> reply
    std::vector<std::string> chatter;    // lines said now and then
    std::vector<std::uint32_t> items;    // item templates it carries (dropped on death)
};

struct World {
    std::string name;
    std::uint32_t start = 0;                      // room where new and respawned characters appear
    std::vector<Room> rooms;
    std::vector<ItemTemplate> items;
    std::vector<NpcTemplate> npcs;
    std::unordered_map<std::string, std::uint32_t> room_index;  // id -> index
    std::unordered_map<std::string, std::uint32_t> item_index;  // id -> index

    // Index of room `id`, or -1.
    std::int64_t find_room(std::string_view id) const;
    std::int64_t find_item(std::string_view id) const;
};

// Parses and validates a world. Throws WorldError.
World parse_world(std::string_view json);
// Reads the file and parses it; the error message starts with the path.
World load_world(const std::filesystem::path& path);

// An NPC's greet or response (an emote fragment) as players see it: the NPC's name capitalised,
// a space, then `text` with each "{name}" replaced by `player` ("A sewer rat squeaks at Alice.").
// Chatter lines are the words said instead, shown as `<Name> says, "<line>"`.
std::string npc_line(const NpcTemplate& npc, std::string_view text, std::string_view player = {});

}  // namespace mud

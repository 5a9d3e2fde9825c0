// The command table and its handlers. help is generated from the table.
#include "game_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace mud {

namespace {

using State = Game::State;
using Handler = void (*)(State&, Player&, std::string_view);

struct CommandDef {
    std::string_view name;
    std::vector<std::string_view> aliases;  // (not an initializer_list: its array would not outlive the table's initialiser)
    std::string_view usage;
    std::string_view help;
    Handler run;
    bool admin = false;
};

// "2.rat" -> {2, "rat"}; "rat" -> {1, "rat"}.
std::pair<int, std::string> parse_spec(std::string_view spec) {
    int nth = 1;
    if (auto dot = spec.find('.'); dot != std::string_view::npos) {
        int n = 0;
        auto [ptr, ec] = std::from_chars(spec.data(), spec.data() + dot, n);
        if (ec == std::errc() && ptr == spec.data() + dot && n > 0) {
            nth = n;
            spec.remove_prefix(dot + 1);
        }
    }
    return {nth, lower(spec)};
}

bool has_keyword(const std::vector<std::string>& keywords, std::string_view word) {
    return std::find(keywords.begin(), keywords.end(), word) != keywords.end();
}

// Index into `items` of the nth item matching the spec, or -1.
std::int64_t find_item(const State& st, const std::vector<std::uint32_t>& items, std::string_view spec) {
    auto [nth, word] = parse_spec(spec);
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (has_keyword(st.world.items[items[i]].keywords, word) && --nth == 0) return static_cast<std::int64_t>(i);
    }
    return -1;
}

Npc* find_npc(State& st, std::uint32_t room, std::string_view spec) {
    auto [nth, word] = parse_spec(spec);
    for (Npc* n : st.rooms[room].npcs) {
        if (has_keyword(st.world.npcs[n->tmpl].keywords, word) && --nth == 0) return n;
    }
    return nullptr;
}

Player* find_player_here(State& st, std::uint32_t room, std::string_view name) {
    std::string key = lower(name);
    for (Player* p : st.rooms[room].players) {
        if (p->key == key) return p;
    }
    return nullptr;
}

Player* find_player_online(State& st, std::string_view name) {
    auto it = st.players.find(lower(name));
    return it == st.players.end() ? nullptr : it->second.get();
}

void cmd_look(State& st, Player& p, std::string_view args) {
    if (args.empty()) return st.show_room(p);
    if (args.starts_with("at ")) args = trim(args.substr(3));
    if (Npc* n = find_npc(st, p.room, args)) {
        auto& t = st.world.npcs[n->tmpl];
        return st.text(p, "info", fmt::format("{} {} ({}/{} HP)", capitalised(t.name) + ":", t.desc, n->hp, t.hp));
    }
    if (auto i = find_item(st, st.rooms[p.room].items, args); i >= 0) {
        auto& t = st.world.items[st.rooms[p.room].items[static_cast<std::size_t>(i)]];
        return st.text(p, "info", capitalised(t.name) + ": " + t.desc);
    }
    if (auto i = find_item(st, p.inventory, args); i >= 0) {
        auto& t = st.world.items[p.inventory[static_cast<std::size_t>(i)]];
        return st.text(p, "info", capitalised(t.name) + " (carried): " + t.desc);
    }
    if (Player* o = find_player_here(st, p.room, args)) {
        return st.text(p, "info", fmt::format("{} looks {}.", o->name,
                                              o->hp * 3 < o->max_hp ? "badly hurt" : o->hp < o->max_hp ? "a bit bruised" : "healthy"));
    }
    st.text(p, "error", fmt::format("You see no \"{}\" here.", args));
}

void cmd_examine(State& st, Player& p, std::string_view args) {
    if (args.empty()) return st.text(p, "error", "Examine what?");
    if (auto i = find_item(st, p.inventory, args); i >= 0) {
        auto& t = st.world.items[p.inventory[static_cast<std::size_t>(i)]];
        return st.text(p, "info", fmt::format("{}: {}{}", capitalised(t.name), t.desc,
                                              t.damage > 0 ? fmt::format(" (a weapon: +{} damage)", t.damage) : ""));
    }
    if (auto i = find_item(st, st.rooms[p.room].items, args); i >= 0) {
        auto& t = st.world.items[st.rooms[p.room].items[static_cast<std::size_t>(i)]];
        return st.text(p, "info", fmt::format("{}: {}{}{}", capitalised(t.name), t.desc,
                                              t.damage > 0 ? fmt::format(" (a weapon: +{} damage)", t.damage) : "",
                                              t.takeable ? "" : " It cannot be taken."));
    }
    if (Npc* n = find_npc(st, p.room, args)) {
        auto& t = st.world.npcs[n->tmpl];
        return st.text(p, "info", fmt::format("{}: {} Health {}/{}; hits for {}-{}{}.", capitalised(t.name), t.desc, n->hp,
                                              t.hp, t.damage_min, t.damage_max, t.aggressive ? "; aggressive" : ""));
    }
    if (Player* o = find_player_here(st, p.room, args)) {
        return st.text(p, "info", fmt::format("{}: health {}/{}, {} kills, {} deaths{}.", o->name, o->hp, o->max_hp, o->kills,
                                              o->deaths, o->admin ? ", an administrator" : ""));
    }
    st.text(p, "error", fmt::format("You see no \"{}\" here.", args));
}

void cmd_go(State& st, Player& p, std::string_view args) {
    std::string dir = lower(args);
    static constexpr std::pair<std::string_view, std::string_view> abbrev[] = {
        {"n", "north"}, {"s", "south"}, {"e", "east"}, {"w", "west"}, {"u", "up"}, {"d", "down"},
        {"ne", "northeast"}, {"nw", "northwest"}, {"se", "southeast"}, {"sw", "southwest"}};
    for (auto [a, full] : abbrev) {
        if (dir == a) dir = full;
    }
    for (auto& e : st.world.rooms[p.room].exits) {
        if (e.dir == dir) return st.move(p, e);
    }
    st.text(p, "error", args.empty() ? "Go where?" : fmt::format("You can't go \"{}\" from here.", args));
}

void cmd_say(State& st, Player& p, std::string_view msg) {
    if (msg.empty()) return st.text(p, "error", "Say what?");
    auto line = [&](std::string_view who) { return fmt::format("{} {}, \"{}\"", who, who == "You" ? "say" : "says", msg); };
    st.send(p, Out("text").arg(line("You")).kw("type", "say").kw("from", p.name).kw("msg", msg).str());
    st.send_room(p.room, Out("text").arg(line(p.name)).kw("type", "say").kw("from", p.name).kw("msg", msg).str(), &p);
    st.on_say(p, msg);
}

void cmd_emote(State& st, Player& p, std::string_view msg) {
    if (msg.empty()) return st.text(p, "error", "Emote what?");
    std::string line = fmt::format("{} {}", p.name, msg);
    if (line.back() != '.' && line.back() != '!' && line.back() != '?') line += '.';
    st.send_room(p.room, Out("text").arg(line).kw("type", "emote").kw("from", p.name).kw("msg", msg).str());
}

void cmd_tell(State& st, Player& p, std::string_view args) {
    auto [name, msg] = split_word(args);
    if (name.empty() || msg.empty()) return st.text(p, "error", "Usage: tell <name> <message>");
    Player* o = find_player_online(st, name);
    if (o == nullptr || o->session == 0) return st.text(p, "error", fmt::format("{} is not online.", capitalised(lower(name))));
    st.send(*o, Out("text").arg(fmt::format("{} tells you, \"{}\"", p.name, msg)).kw("type", "tell").kw("from", p.name).kw("to", o->name).kw("msg", msg).str());
    if (o != &p) st.send(p, Out("text").arg(fmt::format("You tell {}, \"{}\"", o->name, msg)).kw("type", "tell").kw("from", p.name).kw("to", o->name).kw("msg", msg).str());
}

void send_channels(State& st, Player& p) {
    std::vector<std::string> available;
    for (auto& [name, members] : st.channels) {
        if (name == "global" || !members.empty()) available.push_back(name);
    }
    st.send(p, Out("channels").kw_strings("joined", p.channels).kw_strings("available", available).str());
    std::string joined;
    for (auto& c : p.channels) joined += (joined.empty() ? "" : ", ") + c;
    st.text(p, "info", joined.empty() ? "You are on no channels." : "Your channels: " + joined + ".");
}

void cmd_channels(State& st, Player& p, std::string_view) { send_channels(st, p); }

void cmd_join(State& st, Player& p, std::string_view args) {
    std::string name = lower(trim(args));
    bool ok = name.size() >= 2 && name.size() <= 16 &&
              std::all_of(name.begin(), name.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    if (!ok) return st.text(p, "error", "A channel name is 2 to 16 letters.");
    if (std::find(p.channels.begin(), p.channels.end(), name) != p.channels.end()) {
        return st.text(p, "error", fmt::format("You are already on {}.", name));
    }
    p.channels.push_back(name);
    st.channels[name].insert(&p);
    p.dirty = true;
    st.text(p, "info", fmt::format("You join the {} channel. Talk with: {} <message>", name, name));
    send_channels(st, p);
}

void cmd_leave(State& st, Player& p, std::string_view args) {
    std::string name = lower(trim(args));
    auto it = std::find(p.channels.begin(), p.channels.end(), name);
    if (it == p.channels.end()) return st.text(p, "error", fmt::format("You are not on \"{}\".", args));
    p.channels.erase(it);
    st.channels[name].erase(&p);
    p.dirty = true;
    st.text(p, "info", fmt::format("You leave the {} channel.", name));
    send_channels(st, p);
}

void channel_say(State& st, Player& p, const std::string& channel, std::string_view msg) {
    if (msg.empty()) return st.text(p, "error", fmt::format("Usage: {} <message>", channel));
    std::string out = Out("text")
                          .arg(fmt::format("[{}] {}: {}", channel, p.name, msg))
                          .kw("type", "channel")
                          .kw("channel", channel)
                          .kw("from", p.name)
                          .kw("msg", msg)
                          .str();
    for (Player* member : st.channels[channel]) st.send(*member, out);
}

void cmd_chat(State& st, Player& p, std::string_view msg) {
    if (std::find(p.channels.begin(), p.channels.end(), "global") == p.channels.end()) {
        return st.text(p, "error", "You are not on the global channel (join global).");
    }
    channel_say(st, p, "global", msg);
}

void cmd_who(State& st, Player& p, std::string_view) {
    auto it = st.sessions.find(p.session);
    if (it != st.sessions.end()) st.send_who(it->second, true);
}

void cmd_inventory(State& st, Player& p, std::string_view) {
    if (p.inventory.empty()) return st.text(p, "info", "You are carrying nothing.");
    Out out("text");
    out.arg("You are carrying:");
    for (auto i : p.inventory) out.arg("  " + st.world.items[i].name);
    st.send(p, std::move(out.kw("type", "info")).str());
}

void take_one(State& st, Player& p, std::size_t index) {
    auto& floor = st.rooms[p.room].items;
    std::uint32_t item = floor[index];
    floor.erase(floor.begin() + static_cast<std::ptrdiff_t>(index));
    p.inventory.push_back(item);
    p.dirty = true;
    st.text(p, "info", fmt::format("You pick up {}.", st.world.items[item].name));
    st.announce_room(p.room, text_message("info", {fmt::format("{} picks up {}.", p.name, st.world.items[item].name)}), &p);
}

void cmd_get(State& st, Player& p, std::string_view args) {
    if (args.empty()) return st.text(p, "error", "Get what?");
    auto& floor = st.rooms[p.room].items;
    if (lower(args) == "all") {
        bool any = false;
        for (std::size_t i = 0; i < floor.size();) {
            if (st.world.items[floor[i]].takeable) {
                take_one(st, p, i);
                any = true;
            } else {
                ++i;
            }
        }
        if (!any) st.text(p, "error", "There is nothing here to take.");
    } else {
        auto i = find_item(st, floor, args);
        if (i < 0) return st.text(p, "error", fmt::format("You see no \"{}\" here.", args));
        if (!st.world.items[floor[static_cast<std::size_t>(i)]].takeable) {
            return st.text(p, "error", fmt::format("You can't take {}.", st.world.items[floor[static_cast<std::size_t>(i)]].name));
        }
        take_one(st, p, static_cast<std::size_t>(i));
    }
    st.send(p, st.room_message(p));
}

void cmd_drop(State& st, Player& p, std::string_view args) {
    if (args.empty()) return st.text(p, "error", "Drop what?");
    auto i = find_item(st, p.inventory, args);
    if (i < 0) return st.text(p, "error", fmt::format("You have no \"{}\".", args));
    std::uint32_t item = p.inventory[static_cast<std::size_t>(i)];
    p.inventory.erase(p.inventory.begin() + i);
    st.rooms[p.room].items.push_back(item);
    p.dirty = true;
    st.text(p, "info", fmt::format("You drop {}.", st.world.items[item].name));
    st.announce_room(p.room, text_message("info", {fmt::format("{} drops {}.", p.name, st.world.items[item].name)}), &p);
    st.send(p, st.room_message(p));
}

void cmd_give(State& st, Player& p, std::string_view args) {
    // give <item> <player>, or give <item> to <player>
    auto last_space = args.find_last_of(' ');
    if (last_space == std::string_view::npos) return st.text(p, "error", "Usage: give <item> <player>");
    std::string_view who = args.substr(last_space + 1);
    std::string_view what = trim(args.substr(0, last_space));
    if (what.ends_with(" to")) what = trim(what.substr(0, what.size() - 3));
    auto i = find_item(st, p.inventory, what);
    if (i < 0) return st.text(p, "error", fmt::format("You have no \"{}\".", what));
    Player* o = find_player_here(st, p.room, who);
    if (o == nullptr || o == &p) return st.text(p, "error", fmt::format("There is no \"{}\" here to give it to.", who));
    std::uint32_t item = p.inventory[static_cast<std::size_t>(i)];
    p.inventory.erase(p.inventory.begin() + i);
    o->inventory.push_back(item);
    p.dirty = o->dirty = true;
    const auto& name = st.world.items[item].name;
    st.text(p, "info", fmt::format("You give {} to {}.", name, o->name));
    st.text(*o, "info", fmt::format("{} gives you {}.", p.name, name));
    for (Player* other : st.rooms[p.room].players) {
        if (other != &p && other != o) st.text(*other, "info", fmt::format("{} gives {} to {}.", p.name, name, o->name));
    }
}

void cmd_score(State& st, Player& p, std::string_view) {
    int bonus = st.player_damage(p);
    st.send(p, Out("text")
                   .arg(fmt::format("{}{}", p.name, p.admin ? " (administrator)" : ""))
                   .arg(fmt::format("Health {}/{}, hits for 1-{}", p.hp, p.max_hp, 4 + bonus))
                   .arg(fmt::format("{} kills, {} deaths", p.kills, p.deaths))
                   .kw("type", "info")
                   .str());
    st.send(p, st.status_message(p));
}

void cmd_attack(State& st, Player& p, std::string_view args) {
    if (args.empty()) return st.text(p, "error", "Attack what?");
    if (st.world.rooms[p.room].safe) return st.text(p, "error", "This is a place of peace; no fighting here.");
    Npc* n = find_npc(st, p.room, args);
    if (n == nullptr) {
        if (find_player_here(st, p.room, args)) return st.text(p, "error", "You can only fight the creatures of the world.");
        return st.text(p, "error", fmt::format("You see no \"{}\" here.", args));
    }
    st.start_fight(p, *n);
}

void cmd_flee(State& st, Player& p, std::string_view) { st.flee(p); }

void cmd_quit(State& st, Player& p, std::string_view) {
    auto it = st.sessions.find(p.session);
    st.text(p, "system", "Your character has been saved. Farewell!");
    p.session = 0;
    st.remove_player(p, "has left the game.");
    if (it != st.sessions.end()) {
        it->second.player = nullptr;
        st.bye(it->second, "Goodbye.", 1000);
    }
}

void cmd_help(State& st, Player& p, std::string_view topic) {
    auto it = st.sessions.find(p.session);
    if (it != st.sessions.end()) st.send_help(&p, it->second, topic);
}

void announce(State& st, std::string_view msg) {
    std::string out = text_message("announce", {fmt::format("*** {} ***", msg)});
    for (auto& [id, s] : st.sessions) st.send(s, out);
}

void cmd_announce(State& st, Player& p, std::string_view msg) {
    if (msg.empty()) return st.text(p, "error", "Usage: announce <message>");
    announce(st, msg);
}

// Kicks a player: told why, saved, removed, connection closed with 1008.
void kick(State& st, Player& target, std::string_view why) {
    auto it = st.sessions.find(target.session);
    target.session = 0;
    st.remove_player(target, "has been removed from the game.");
    if (it != st.sessions.end()) {
        it->second.player = nullptr;
        st.bye(it->second, why, 1008);
    }
}

void cmd_kick(State& st, Player& p, std::string_view args) {
    auto [name, reason] = split_word(args);
    Player* o = name.empty() ? nullptr : find_player_online(st, name);
    if (o == nullptr) return st.text(p, "error", "Usage: kick <online player> [reason]");
    if (o == &p) return st.text(p, "error", "You cannot kick yourself.");
    std::string who = o->name;
    kick(st, *o, reason.empty() ? "You have been kicked." : fmt::format("You have been kicked: {}", reason));
    st.text(p, "system", fmt::format("{} has been kicked.", who));
}

void cmd_ban(State& st, Player& p, std::string_view args) {
    auto [name, reason] = split_word(args);
    if (name.empty()) return st.text(p, "error", "Usage: ban <name> [reason]");
    std::string display = capitalised(lower(name));
    if (lower(name) == p.key) return st.text(p, "error", "You cannot ban yourself.");
    st.host.set_banned(display, true, std::string(reason));
    if (Player* o = find_player_online(st, name)) {
        kick(st, *o, reason.empty() ? "You have been banned." : fmt::format("You have been banned: {}", reason));
    }
    st.text(p, "system", fmt::format("{} is banned.", display));
}

void cmd_unban(State& st, Player& p, std::string_view args) {
    if (args.empty()) return st.text(p, "error", "Usage: unban <name>");
    std::string display = capitalised(lower(args));
    st.host.set_banned(display, false, "");
    st.text(p, "system", fmt::format("{} is no longer banned.", display));
}

void cmd_shutdown(State& st, Player& p, std::string_view args) {
    int seconds = 0;
    if (!args.empty()) {
        auto [ptr, ec] = std::from_chars(args.data(), args.data() + args.size(), seconds);
        if (ec != std::errc() || ptr != args.data() + args.size() || seconds < 0 || seconds > 3600) {
            return st.text(p, "error", "Usage: shutdown [seconds, 0-3600]");
        }
    }
    st.text(p, "system", "Shutdown started.");
    st.begin_shutdown(std::chrono::seconds(seconds), fmt::format("by {}", p.name));
}

const std::vector<CommandDef>& commands() {
    static const std::vector<CommandDef> table = {
        {"look", {"l"}, "look [thing]", "Describes the room, or a thing, creature or player here.", cmd_look},
        {"go", {}, "go <exit>", "Moves through an exit. Exit names and n/s/e/w/u/d work alone too.", cmd_go},
        {"say", {}, "say <message>", "Says something to everyone in the room ('<message> works too).", cmd_say},
        {"emote", {"me"}, "emote <action>", "Acts something out: emote waves (:<action> works too).", cmd_emote},
        {"tell", {"whisper"}, "tell <name> <message>", "Sends a private message to a player anywhere.", cmd_tell},
        {"chat", {}, "chat <message>", "Talks on the global channel (same as: global <message>).", cmd_chat},
        {"channels", {}, "channels", "Lists your channels. Talk on one with: <channel> <message>.", cmd_channels},
        {"join", {}, "join <channel>", "Joins a channel, creating it if needed.", cmd_join},
        {"leave", {}, "leave <channel>", "Leaves a channel.", cmd_leave},
        {"who", {}, "who", "Lists who is online.", cmd_who},
        {"inventory", {"i", "inv"}, "inventory", "Lists what you carry.", cmd_inventory},
        {"get", {"take"}, "get <item> | get all", "Picks up an item.", cmd_get},
        {"drop", {}, "drop <item>", "Drops an item.", cmd_drop},
        {"give", {}, "give <item> <player>", "Gives an item to a player here.", cmd_give},
        {"examine", {"ex"}, "examine <thing>", "Shows the details of an item, creature or player.", cmd_examine},
        {"attack", {"kill", "k"}, "attack <creature>", "Starts a fight; rounds follow on their own.", cmd_attack},
        {"flee", {}, "flee", "Tries to run from a fight through a random exit.", cmd_flee},
        {"score", {"stats"}, "score", "Shows your health and record.", cmd_score},
        {"help", {"?"}, "help [command]", "Lists commands, or explains one.", cmd_help},
        {"quit", {}, "quit", "Saves your character and leaves.", cmd_quit},
        {"announce", {}, "announce <message>", "Admin: a message to everyone online.", cmd_announce, true},
        {"kick", {}, "kick <name> [reason]", "Admin: disconnects a player.", cmd_kick, true},
        {"ban", {}, "ban <name> [reason]", "Admin: bans an account and kicks it.", cmd_ban, true},
        {"unban", {}, "unban <name>", "Admin: lifts a ban.", cmd_unban, true},
        {"shutdown", {}, "shutdown [seconds]", "Admin: saves everyone and stops the server.", cmd_shutdown, true},
    };
    return table;
}

const CommandDef* find_command(std::string_view verb, bool admin) {
    for (auto& c : commands()) {
        if (c.admin && !admin) continue;
        if (c.name == verb || std::find(c.aliases.begin(), c.aliases.end(), verb) != c.aliases.end()) return &c;
    }
    return nullptr;
}

}  // namespace

void Game::State::dispatch(Player& p, std::string_view line) {
    line = trim(line);
    if (line.empty()) return send(p, status_message(p));
    if (line.front() == '\'') return cmd_say(*this, p, trim(line.substr(1)));
    if (line.front() == ':') return cmd_emote(*this, p, trim(line.substr(1)));
    auto [verb_raw, rest] = split_word(line);
    std::string verb = lower(verb_raw);
    if (const CommandDef* c = find_command(verb, p.admin)) return c->run(*this, p, rest);
    // An exit name or abbreviation alone moves.
    static constexpr std::string_view dirs[] = {"n", "s", "e", "w", "u", "d", "ne", "nw", "se", "sw"};
    if (rest.empty()) {
        for (auto& e : world.rooms[p.room].exits) {
            if (e.dir == verb) return move(p, e);
        }
        if (std::find(std::begin(dirs), std::end(dirs), verb) != std::end(dirs)) return cmd_go(*this, p, verb);
        for (auto d : {"north", "south", "east", "west", "up", "down"}) {
            if (verb == d) return text(p, "error", "You can't go that way.");
        }
    }
    if (std::find(p.channels.begin(), p.channels.end(), verb) != p.channels.end()) {
        return channel_say(*this, p, verb, rest);
    }
    send(p, error_message("unknown_command", fmt::format("Unknown command \"{}\". Type help for a list.", verb_raw)));
}

void Game::State::send_who(Session& s, bool with_text) {
    std::vector<Player*> list;
    list.reserve(players.size());
    for (auto& [key, p] : players) list.push_back(p.get());
    std::sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->key < b->key; });
    std::string entries = "[";
    std::size_t shown = 0;
    for (Player* p : list) {
        if (shown++ == 200) break;
        if (shown > 1) entries += ',';
        auto idle = std::chrono::duration_cast<std::chrono::seconds>(now - p->last_command).count();
        entries += Out("")
                       .kw("name", p->name)
                       .kw("room", world.rooms[p->room].name)
                       .kw("idle", static_cast<std::int64_t>(idle))
                       .kw("admin", p->admin)
                       .kwargs_str();
    }
    entries += ']';
    send(s, Out("who").kw("count", static_cast<std::int64_t>(list.size())).kw_raw("players", entries).str());
    if (!with_text) return;
    Out text("text");
    text.arg(fmt::format("{} player{} online:", list.size(), list.size() == 1 ? "" : "s"));
    shown = 0;
    for (Player* p : list) {
        if (shown++ == 50) {
            text.arg(fmt::format("  ...and {} more", list.size() - 50));
            break;
        }
        text.arg(fmt::format("  {}{} - {}", p->name, p->session == 0 ? " (link-dead)" : "", world.rooms[p->room].name));
    }
    send(s, std::move(text.kw("type", "info")).str());
}

void Game::State::send_help(Player* p, Session& s, std::string_view topic) {
    bool admin = p != nullptr && p->admin;
    if (p == nullptr) {
        send(s, text_message("help", {"Before you play:", "  connect <name> <password>  - log in",
                                      "  create <name> <password>   - make a new character (name: 3-16 letters)",
                                      "  who                        - who is online", "  quit"}));
        return;
    }
    if (!topic.empty()) {
        const CommandDef* c = find_command(lower(topic), admin);
        if (c == nullptr) return send(s, error_message("unknown_command", fmt::format("No help for \"{}\".", topic)));
        std::string aliases;
        for (auto a : c->aliases) aliases += (aliases.empty() ? " (also: " : ", ") + std::string(a);
        if (!aliases.empty()) aliases += ")";
        send(s, text_message("help", {std::string(c->usage) + aliases, std::string(c->help)}));
        return;
    }
    Out out("text");
    out.arg("Commands:");
    for (auto& c : commands()) {
        if (c.admin && !admin) continue;
        out.arg(fmt::format("  {:<24} {}", c.usage, c.help));
    }
    out.arg("Move with north/south/east/west/up/down (n s e w u d) or an exit's name.");
    send(s, std::move(out.kw("type", "help")).str());
}

}  // namespace mud

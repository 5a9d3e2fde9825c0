// Fights (rounds on the tick), deaths and respawns, and what NPCs do on their own:
// wander within their area, chatter, greet, answer keywords, attack if aggressive.
#include "game_state.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mud {

namespace {

std::string npc_name(const Game::State& st, const Npc& n) { return capitalised(st.world.npcs[n.tmpl].name); }

}  // namespace

int Game::State::player_damage(const Player& p) {
    int bonus = 0;
    for (auto i : p.inventory) bonus = std::max(bonus, world.items[i].damage);
    return bonus;
}

void Game::State::start_fight(Player& p, Npc& n) {
    if (p.target == &n) return text(p, "error", "You are already fighting it!");
    p.target = &n;
    fighting.insert(&p);
    if (n.target == nullptr) n.target = &p;
    send(p, text_message("combat", {fmt::format("You attack {}!", world.npcs[n.tmpl].name)}));
    send_room(p.room, text_message("combat", {fmt::format("{} attacks {}!", p.name, world.npcs[n.tmpl].name)}), &p);
    send(p, status_message(p));
}

void Game::State::stop_fight(Player& p) {
    if (p.target != nullptr && p.target->target == &p) p.target->target = nullptr;
    p.target = nullptr;
    fighting.erase(&p);
}

void Game::State::combat_round() {
    // Players hit their targets, then NPCs hit theirs. Copy: deaths change the sets.
    std::vector<Player*> attackers(fighting.begin(), fighting.end());
    std::sort(attackers.begin(), attackers.end(), [](auto* a, auto* b) { return a->key < b->key; });
    for (Player* p : attackers) {
        if (!fighting.contains(p)) continue;
        Npc* n = p->target;
        if (n == nullptr || !n->alive || n->room != p->room) {
            stop_fight(*p);
            continue;
        }
        int dmg = std::uniform_int_distribution<int>(1, 4)(rng) + player_damage(*p);
        n->hp -= dmg;
        text(*p, "combat", fmt::format("You hit {} for {} damage.", world.npcs[n->tmpl].name, dmg));
        if (n->hp <= 0) npc_dies(*n, p);
    }
    for (auto& np : npcs) {
        Npc& n = *np;
        if (!n.alive || n.target == nullptr) continue;
        Player& p = *n.target;
        if (p.room != n.room) {
            n.target = nullptr;
            continue;
        }
        auto& t = world.npcs[n.tmpl];
        int dmg = std::uniform_int_distribution<int>(t.damage_min, t.damage_max)(rng);
        p.hp -= dmg;
        p.dirty = true;
        text(p, "combat", fmt::format("{} hits you for {} damage.", npc_name(*this, n), dmg));
        if (p.target == nullptr) {  // fight back
            p.target = &n;
            fighting.insert(&p);
        }
        if (p.hp <= 0) {
            player_dies(p);
        } else {
            send(p, status_message(p));
        }
    }
}

void Game::State::npc_dies(Npc& n, Player* killer) {
    auto& t = world.npcs[n.tmpl];
    send_room(n.room, text_message("combat", {fmt::format("{} dies!", capitalised(t.name))}));
    for (auto item : n.items) rooms[n.room].items.push_back(item);
    n.items.clear();
    for (Player* p : std::vector<Player*>(fighting.begin(), fighting.end())) {
        if (p->target == &n) stop_fight(*p);
    }
    if (killer != nullptr) {
        ++killer->kills;
        killer->dirty = true;
        send(*killer, status_message(*killer));
    }
    ++stats.npc_kills_total;
    n.target = nullptr;
    n.alive = false;
    n.respawn_at = now + std::chrono::seconds(t.respawn_s);
    unplace(n, "");
    for (Player* p : rooms[n.room].players) send(*p, room_message(*p));
}

void Game::State::player_dies(Player& p) {
    text(p, "combat", "You die! Everything goes dark...");
    send_room(p.room, text_message("combat", {fmt::format("{} dies!", p.name)}), &p);
    stop_fight(p);
    for (auto& n : npcs) {
        if (n->target == &p) n->target = nullptr;
    }
    for (auto item : p.inventory) rooms[p.room].items.push_back(item);
    p.inventory.clear();
    ++p.deaths;
    ++stats.player_deaths_total;
    p.hp = p.max_hp;
    unplace(p, "");
    place(p, world.start, "");
    text(p, "combat", "You wake up, whole again, in a familiar place.");
    show_room(p);
    send(p, status_message(p));
}

void Game::State::flee(Player& p) {
    if (p.target == nullptr) return text(p, "error", "You are not fighting anyone.");
    const auto& exits = world.rooms[p.room].exits;
    if (exits.empty() || std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
        return text(p, "combat", "You try to flee, but cannot get away!");
    }
    const Exit& e = exits[std::uniform_int_distribution<std::size_t>(0, exits.size() - 1)(rng)];
    text(p, "combat", fmt::format("You flee {}!", e.dir));
    move(p, e);
}

void Game::State::on_player_enters(Player& p) {
    for (Npc* n : std::vector<Npc*>(rooms[p.room].npcs)) {
        auto& t = world.npcs[n->tmpl];
        if (t.aggressive && !world.rooms[p.room].safe && n->target == nullptr) {
            n->target = &p;
            send_room(p.room, text_message("combat", {fmt::format("{} attacks {}!", capitalised(t.name), p.name)}), &p);
            text(p, "combat", fmt::format("{} attacks you!", capitalised(t.name)));
            if (p.target == nullptr) {
                p.target = n;
                fighting.insert(&p);
            }
        } else if (!t.greet.empty()) {
            std::string line = npc_line(t, t.greet, p.name);
            if (rooms[p.room].players.size() > options.crowd_threshold) {
                send(p, text_message("emote", {line}));
            } else {
                send_room(p.room, text_message("emote", {line}));
            }
        }
    }
}

void Game::State::on_say(Player& p, std::string_view msg) {
    std::string said = lower(msg);
    for (Npc* n : rooms[p.room].npcs) {
        auto& t = world.npcs[n->tmpl];
        for (auto& [keyword, reply] : t.responses) {
            if (said.find(keyword) != std::string::npos) {
                send_room(p.room, text_message("emote", {npc_line(t, reply, p.name)}));
                break;
            }
        }
    }
}

void Game::State::npc_think(Npc& n) {
    auto& t = world.npcs[n.tmpl];
    std::uniform_real_distribution<double> chance(0.0, 1.0);
    if (!t.chatter.empty() && !rooms[n.room].players.empty() && chance(rng) < 0.2) {
        auto& line = t.chatter[std::uniform_int_distribution<std::size_t>(0, t.chatter.size() - 1)(rng)];
        send_room(n.room, Out("text")
                              .arg(fmt::format("{} says, \"{}\"", capitalised(t.name), line))
                              .kw("type", "say")
                              .kw("from", capitalised(t.name))
                              .kw("msg", line)
                              .str());
    }
    if (n.target != nullptr || t.wander <= 0.0 || chance(rng) >= t.wander) return;
    const std::string& area = world.rooms[n.home].area;
    std::vector<const Exit*> options;
    for (auto& e : world.rooms[n.room].exits) {
        if (world.rooms[e.to].area == area && !world.rooms[e.to].safe) options.push_back(&e);
    }
    if (options.empty()) return;
    const Exit& e = *options[std::uniform_int_distribution<std::size_t>(0, options.size() - 1)(rng)];
    std::string from;
    for (auto& back : world.rooms[e.to].exits) {
        if (back.to == n.room) from = back.dir;
    }
    unplace(n, e.dir);
    place(n, e.to, from);
    if (t.aggressive) {
        for (Player* p : rooms[n.room].players) {
            if (n.target == nullptr) {
                n.target = p;
                text(*p, "combat", fmt::format("{} attacks you!", capitalised(t.name)));
            }
        }
    }
}

void Game::State::npcs_tick() {
    for (auto& np : npcs) {
        Npc& n = *np;
        if (!n.alive) {
            if (now >= n.respawn_at) {
                auto& t = world.npcs[n.tmpl];
                n.alive = true;
                n.hp = t.hp;
                n.items = t.items;
                place(n, n.home, "");
                n.next_think = now + options.npc_interval;
            }
            continue;
        }
        if (now < n.next_think) continue;
        // Spread NPCs over the interval so they don't all act on one tick.
        auto jitter = std::uniform_int_distribution<std::int64_t>(0, options.npc_interval.count() / 2)(rng);
        n.next_think = now + options.npc_interval + std::chrono::milliseconds(jitter);
        npc_think(n);
    }
}

}  // namespace mud

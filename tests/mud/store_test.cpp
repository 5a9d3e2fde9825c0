// Tests for mud_server/store.hpp: accounts (case-insensitive, duplicates refused), character
// round trips with odd strings, bulk saves in one transaction, ban/admin, reopening, the
// schema version check and WAL. Every test uses a real file in its own temp directory under
// /tmp, removed at the end.
#include "apps/temp_dir.hpp"
#include "store.hpp"

#include <gtest/gtest.h>


#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace sqlite = dally::apps::sqlite;
using mud::AccountRecord;
using mud::CharacterRecord;
using mud::Store;
using mud::StoreError;
using namespace std::string_literals;

AccountRecord account(std::string name) {
    AccountRecord a;
    a.name = std::move(name);
    a.password_hash = "$argon2id$fake";
    a.created_at = 1000;
    return a;
}

CharacterRecord character(std::string name) {
    CharacterRecord c;
    c.name = std::move(name);
    c.room = "square";
    return c;
}

class StoreTest : public ::testing::Test {
  protected:
    TempDir m_dir;
    std::filesystem::path m_file = m_dir / "mud.db";
};

TEST_F(StoreTest, NewFileIsMigratedToTheCurrentSchema) {
    Store store(m_file);
    EXPECT_GE(Store::current_schema_version(), 1);
    EXPECT_EQ(store.schema_version(), Store::current_schema_version());
    EXPECT_EQ(store.account_count(), 0);
}

TEST_F(StoreTest, CreatedAccountIsFoundCaseInsensitively) {
    Store store(m_file);
    AccountRecord alice = account("Alice");
    alice.admin = true;
    alice.last_login = 1234;
    ASSERT_TRUE(store.create_account(alice, character("Alice")));

    for (std::string_view name : {"Alice", "alice", "ALICE", "aLiCe"}) {
        const auto found = store.find_account(name);
        ASSERT_TRUE(found) << name;
        EXPECT_EQ(found->name, "Alice");
        EXPECT_EQ(found->password_hash, "$argon2id$fake");
        EXPECT_TRUE(found->admin);
        EXPECT_FALSE(found->banned);
        EXPECT_EQ(found->ban_reason, "");
        EXPECT_EQ(found->created_at, 1000);
        EXPECT_EQ(found->last_login, 1234);
    }
    EXPECT_FALSE(store.find_account("Bob"));
    EXPECT_FALSE(store.find_account(""));
    EXPECT_EQ(store.account_count(), 1);
}

TEST_F(StoreTest, DuplicateNameReturnsFalseWhateverItsCase) {
    Store store(m_file);
    ASSERT_TRUE(store.create_account(account("Alice"), character("Alice")));
    AccountRecord other = account("ALICE");
    other.password_hash = "other";
    EXPECT_FALSE(store.create_account(other, character("ALICE")));
    EXPECT_FALSE(store.create_account(account("alice"), character("alice")));
    EXPECT_EQ(store.account_count(), 1);
    EXPECT_EQ(store.find_account("alice")->password_hash, "$argon2id$fake");
    // The failed attempt left no transaction open.
    EXPECT_TRUE(store.create_account(account("Bob"), character("Bob")));
}

TEST_F(StoreTest, NewCharacterLoadsAsCreated) {
    Store store(m_file);
    CharacterRecord bob = character("Bob");
    bob.inventory = {"sword", "bread"};
    bob.channels = {"ooc"};
    ASSERT_TRUE(store.create_account(account("Bob"), bob));
    const auto loaded = store.load_character("BOB");
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->name, "Bob");
    EXPECT_EQ(loaded->room, "square");
    EXPECT_EQ(loaded->hp, 20);
    EXPECT_EQ(loaded->max_hp, 20);
    EXPECT_EQ(loaded->inventory, bob.inventory);
    EXPECT_EQ(loaded->channels, bob.channels);
    EXPECT_FALSE(store.load_character("carol"));
}

TEST_F(StoreTest, SavedCharacterRoundTripsOddStrings) {
    Store store(m_file);
    ASSERT_TRUE(store.create_account(account("Eve"), character("Eve")));
    CharacterRecord eve = character("eve");  // saving goes by the key, any case
    eve.room = "tower \"top\"";
    eve.hp = 3;
    eve.max_hp = 45;
    eve.kills = 12;
    eve.deaths = 4;
    eve.inventory = {
        "",
        "quote \" inside",
        "back\\slash \\\" both",
        "new\nline\ttab\r",
        "ctl \x01\x1f\x7f",
        "nul \0 inside"s,
        "\xc3\xbcnic\xc3\xb8"
        "d\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x90\x89",
        "/slash/ and \\u0041 literally",
        "[\"not\", \"an array\"]",
        "sword",
        "sword",
    };
    eve.channels = {"ooc", "\xe6\x97\xa5\xe6\x9c\xac"};
    store.save_characters({&eve, 1});

    const auto loaded = store.load_character("Eve");
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->name, "Eve");
    EXPECT_EQ(loaded->room, eve.room);
    EXPECT_EQ(loaded->hp, 3);
    EXPECT_EQ(loaded->max_hp, 45);
    EXPECT_EQ(loaded->kills, 12);
    EXPECT_EQ(loaded->deaths, 4);
    EXPECT_EQ(loaded->inventory, eve.inventory);
    EXPECT_EQ(loaded->channels, eve.channels);
}

TEST_F(StoreTest, InvalidUtf8IsStoredReplacedRatherThanBreakingTheCharacter) {
    Store store(m_file);
    ASSERT_TRUE(store.create_account(account("Mal"), character("Mal")));
    CharacterRecord mal = character("Mal");
    mal.inventory = {"bad \xff byte", "fine"};
    store.save_characters({&mal, 1});
    const auto loaded = store.load_character("Mal");
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->inventory, (std::vector<std::string>{"bad \xef\xbf\xbd byte", "fine"}));
}

TEST_F(StoreTest, EmptyListsRoundTrip) {
    Store store(m_file);
    CharacterRecord empty = character("Nil");
    empty.inventory = {"x"};
    ASSERT_TRUE(store.create_account(account("Nil"), empty));
    empty.inventory.clear();
    store.save_characters({&empty, 1});
    const auto loaded = store.load_character("nil");
    ASSERT_TRUE(loaded);
    EXPECT_TRUE(loaded->inventory.empty());
    EXPECT_TRUE(loaded->channels.empty());
}

TEST_F(StoreTest, SavesAThousandCharactersInOneTransaction) {
    Store store(m_file);
    std::vector<CharacterRecord> everyone;
    for (int i = 0; i < 1000; ++i) {
        const std::string name = "Player" + std::to_string(i);
        ASSERT_TRUE(store.create_account(account(name), character(name)));
        CharacterRecord c = character(name);
        c.room = "room" + std::to_string(i % 17);
        c.hp = i % 20;
        c.kills = i;
        c.inventory = {"item" + std::to_string(i), "coin"};
        everyone.push_back(std::move(c));
    }
    store.save_characters(everyone);
    for (int i : {0, 1, 499, 999}) {
        const auto loaded = store.load_character("player" + std::to_string(i));
        ASSERT_TRUE(loaded) << i;
        EXPECT_EQ(loaded->room, everyone[static_cast<std::size_t>(i)].room);
        EXPECT_EQ(loaded->hp, i % 20);
        EXPECT_EQ(loaded->kills, i);
        EXPECT_EQ(loaded->inventory, everyone[static_cast<std::size_t>(i)].inventory);
    }

    // All or nothing: a character without an account fails the batch, and none of the
    // others is saved.
    for (CharacterRecord& c : everyone) c.kills = -1;
    everyone.push_back(character("Nobody"));
    EXPECT_THROW(store.save_characters(everyone), StoreError);
    EXPECT_EQ(store.load_character("Player0")->kills, 0);
    EXPECT_EQ(store.load_character("Player999")->kills, 999);
}

TEST_F(StoreTest, BanAndAdminSettersUpdateTheAccount) {
    Store store(m_file);
    ASSERT_TRUE(store.create_account(account("Troll"), character("Troll")));

    EXPECT_TRUE(store.set_banned("TROLL", true, "spam"));
    auto found = store.find_account("troll");
    EXPECT_TRUE(found->banned);
    EXPECT_EQ(found->ban_reason, "spam");

    EXPECT_TRUE(store.set_banned("troll", false, ""));
    found = store.find_account("troll");
    EXPECT_FALSE(found->banned);
    EXPECT_EQ(found->ban_reason, "");

    EXPECT_TRUE(store.set_admin("Troll", true));
    EXPECT_TRUE(store.find_account("troll")->admin);
    EXPECT_TRUE(store.set_admin("Troll", false));
    EXPECT_FALSE(store.find_account("troll")->admin);

    store.set_last_login("troll", 99);
    EXPECT_EQ(store.find_account("troll")->last_login, 99);
}

TEST_F(StoreTest, SettersReturnFalseForAnUnknownAccount) {
    Store store(m_file);
    EXPECT_FALSE(store.set_banned("ghost", true, "boo"));
    EXPECT_FALSE(store.set_admin("ghost", true));
    EXPECT_NO_THROW(store.set_last_login("ghost", 1));
    EXPECT_EQ(store.account_count(), 0);
}

TEST_F(StoreTest, DataSurvivesReopeningTheFile) {
    {
        Store store(m_file);
        ASSERT_TRUE(store.create_account(account("Keeper"), character("Keeper")));
        CharacterRecord c = character("Keeper");
        c.inventory = {"lamp"};
        store.save_characters({&c, 1});
        store.set_banned("keeper", true, "testing");
    }
    Store store(m_file);
    EXPECT_EQ(store.schema_version(), Store::current_schema_version());
    EXPECT_EQ(store.account_count(), 1);
    EXPECT_TRUE(store.find_account("KEEPER")->banned);
    EXPECT_EQ(store.load_character("keeper")->inventory, std::vector<std::string>{"lamp"});
}

TEST_F(StoreTest, NewerSchemaVersionIsRefused) {
    { Store store(m_file); }
    {
        sqlite::Database db(m_file);
        db.set_user_version(Store::current_schema_version() + 1);
    }
    try {
        Store store(m_file);
        FAIL() << "no StoreError";
    } catch (const StoreError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("newer"), std::string::npos) << what;
        EXPECT_NE(what.find(std::to_string(Store::current_schema_version() + 1)), std::string::npos)
            << what;
    }
}

TEST_F(StoreTest, UnreadableFileThrowsStoreError) {
    EXPECT_THROW(Store(m_dir / "missing-dir/mud.db"), StoreError);
    {
        std::FILE* f = std::fopen(m_file.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fputs("this is not a database, just some text that is long enough to matter....", f);
        std::fclose(f);
    }
    try {
        Store store(m_file);
        FAIL() << "no StoreError";
    } catch (const StoreError& e) {
        EXPECT_NE(std::string(e.what()).find("not a database"), std::string::npos) << e.what();
    }
}

TEST_F(StoreTest, CorruptInventoryJsonThrowsStoreErrorNamingTheCharacter) {
    Store store(m_file);
    ASSERT_TRUE(store.create_account(account("Zed"), character("Zed")));
    {
        sqlite::Database db(m_file);
        db.exec("UPDATE characters SET inventory = '[\"a\", 3' WHERE name_key = 'zed'");
    }
    try {
        (void)store.load_character("zed");
        FAIL() << "no StoreError";
    } catch (const StoreError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("zed"), std::string::npos) << what;
        EXPECT_NE(what.find("inventory"), std::string::npos) << what;
    }
}

TEST_F(StoreTest, FileIsInWalMode) {
    Store store(m_file);
    sqlite::Database db(m_file, {.wal = false});  // does not set the mode, only reads it
    EXPECT_EQ(db.stmt("PRAGMA journal_mode").fetch_one<std::string>(), "wal");
}

}  // namespace

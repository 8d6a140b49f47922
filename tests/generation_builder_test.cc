// GenerationBuilder: a rebuild's rows in memory, written out as ingested table files.
// What the reducers read back and what the column family holds at the end must be
// what plain puts and deletes would have left, however often the builder wrote out.

#include "projections/generation_builder.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <random>

#include "projections/row_changes.h"
#include "tests/store_fixtures.h"
#include "tests/test_support.h"

namespace portal {
namespace {

using test::openStore;
using test::TempDir;

std::map<std::string, std::string> rowsOf(EventStore& store, rocksdb::ColumnFamilyHandle* family) {
  std::map<std::string, std::string> rows;
  std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(rocksdb::ReadOptions(), family));
  for (it->SeekToFirst(); it->Valid(); it->Next()) rows[it->key().ToString()] = it->value().ToString();
  return rows;
}

struct Fixture {
  TempDir dir;
  std::unique_ptr<EventStore> store = openStore(dir.path() + "/data");
  rocksdb::ColumnFamilyHandle* read = *store->createColumnFamily("test.read.g1");
  rocksdb::ColumnFamilyHandle* added = *store->createColumnFamily("test.added.g1");
  std::string scratch = dir.path() + "/data/rebuild.tmp/test";
};

// Puts `value` at `key` of `family` (or removes the row when `value` is nullopt), and
// does the same to `expect`, what the family must hold in the end.
void change(GenerationBuilder& b, int family, const std::string& key,
            const std::optional<std::string>& value, std::map<std::string, std::string>& expect) {
  if (value) {
    b.put(family, key, *value);
    expect[key] = *value;
  } else {
    b.remove(family, key);
    expect.erase(key);
  }
}

TEST(GenerationBuilder, RowsReadBackAndWrittenOutEqualPlainPutsAndDeletes) {
  for (std::size_t budget : {std::size_t{1} << 30, std::size_t{2048}}) {
    Fixture f;
    GenerationBuilder b(f.store->db(), {f.read, f.added}, f.scratch, budget);
    std::map<std::string, std::string> expectRead, expectAdded;
    std::mt19937 rng(7);
    int flushes = 0;
    for (int i = 0; i < 3000; ++i) {
      const std::string key = std::string("company\0", 8) + std::to_string(rng() % 300);
      switch (rng() % 5) {
        case 0: case 1: {
          // Read, change, write back, as the users projection does.
          auto before = b.get(0, key);
          auto it = expectRead.find(key);
          ASSERT_EQ(before.has_value(), it != expectRead.end()) << key;
          if (before) {
            ASSERT_EQ(*before, it->second);
          }
          change(b, 0, key, before.value_or("") + "+" + std::to_string(i), expectRead);
          break;
        }
        case 2:
          change(b, 0, key, std::nullopt, expectRead);
          break;
        case 3:
          // Only ever added (and sometimes removed again), never read: the list.
          change(b, 1, key, rng() % 5 == 0 ? std::nullopt : std::optional(std::to_string(i)),
                 expectAdded);
          break;
        case 4: {
          // Only read, as the company's owner is at each new user: a row read back
          // from an earlier write-out is kept and must stay what it was.
          auto it = expectRead.find(key);
          ASSERT_EQ(b.get(0, key), it == expectRead.end() ? std::nullopt : std::optional(it->second))
              << key;
          break;
        }
      }
      if (b.full()) {
        ASSERT_TRUE(b.flush());
        ++flushes;
      }
    }
    ASSERT_TRUE(b.flush());
    if (budget < 4096) EXPECT_GT(flushes, 10);
    else EXPECT_EQ(flushes, 0);
    EXPECT_EQ(rowsOf(*f.store, f.read), expectRead) << "budget " << budget;
    EXPECT_EQ(rowsOf(*f.store, f.added), expectAdded) << "budget " << budget;
    // The table files were moved into the database.
    EXPECT_TRUE(!std::filesystem::exists(f.scratch) || std::filesystem::is_empty(f.scratch));
  }
}

TEST(GenerationBuilder, AListFamilyReadOnceIsHashedAndStillRight) {
  Fixture f;
  GenerationBuilder b(f.store->db(), {f.read, f.added}, f.scratch, std::size_t{1} << 30);
  b.put(1, "k1", "a");
  b.put(1, "k2", "b");
  b.put(1, "k1", "c");
  b.remove(1, "k2");
  EXPECT_EQ(b.get(1, "k1"), std::optional<std::string>("c"));
  EXPECT_EQ(b.get(1, "k2"), std::nullopt);
  b.put(1, "k3", "d");
  std::vector<std::pair<std::string, std::string>> scanned;
  b.scan(1, "k", [&](std::string_view k, std::string_view v) {
    scanned.emplace_back(k, v);
    return true;
  });
  EXPECT_EQ(scanned, (std::vector<std::pair<std::string, std::string>>{{"k1", "c"}, {"k3", "d"}}));
  ASSERT_TRUE(b.flush());
  EXPECT_EQ(rowsOf(*f.store, f.added), (std::map<std::string, std::string>{{"k1", "c"}, {"k3", "d"}}));
}

TEST(GenerationBuilder, AListRefilledAfterAWriteOutKeepsEveryRowWhateverItsSize) {
  // A list's blocks are filled again after each write-out; a row larger than a
  // block (4 MiB) gets one of its own, before and after the others.
  Fixture f;
  GenerationBuilder b(f.store->db(), {f.read, f.added}, f.scratch, std::size_t{1} << 30);
  std::map<std::string, std::string> expect;
  const std::string big(5u << 20, 'x');
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 1000; ++i) {
      const std::string key = "r" + std::to_string(round) + "-" + std::to_string(i);
      std::string value = i == 500 - round * 200 ? big + std::to_string(round) : std::to_string(i);
      change(b, 1, key, value, expect);
    }
    ASSERT_TRUE(b.flush());
    ASSERT_EQ(rowsOf(*f.store, f.added), expect) << "round " << round;
  }
}

TEST(GenerationBuilder, WrittenOutRowsAreInTheDatabasesByteOrderWithTheLastChangeWinning) {
  // Keys that are prefixes of one another, bytes on both sides of 0x80, runs already
  // in order and repeated keys: what the sort before writing out must get right.
  Fixture f;
  GenerationBuilder b(f.store->db(), {f.read, f.added}, f.scratch, std::size_t{1} << 30);
  std::map<std::string, std::string> expect;
  std::mt19937 rng(11);
  const std::string alphabet = {'\0', '\x01', 'a', '\x7f', '\x80', '\xff'};
  const std::string prefix = std::string("company\0", 8);
  for (int i = 0; i < 20000; ++i) {
    std::string key = prefix;
    if (i % 3 == 0) {
      key += 'a';
      key += positionBytes(static_cast<std::uint64_t>(i));  // in order, as an index is
    } else {
      for (std::uint32_t n = rng() % 7; n > 0; --n) key.push_back(alphabet[rng() % alphabet.size()]);
    }
    change(b, 1, key, rng() % 10 == 0 ? std::nullopt : std::optional(std::to_string(i)), expect);
  }
  ASSERT_TRUE(b.flush());
  EXPECT_EQ(rowsOf(*f.store, f.added), expect);
}

TEST(ByteBlocks, CopiesStayWholeInGrowingBlocksAndTheBlocksAreFilledAgainAfterReuse) {
  // The projector's batches copy their rows here: blocks from 16 bytes, doubling
  // up to 64, and longer copies in blocks of their own.
  ByteBlocks blocks(16, 64);
  std::mt19937 random(7);
  const char* firstBefore = nullptr;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::pair<std::string, std::string_view>> kept;
    kept.emplace_back("first " + std::to_string(round), std::string_view());
    kept.back().second = blocks.keep(kept.back().first);
    for (int i = 0; i < 500; ++i) {
      std::string bytes(random() % 150, static_cast<char>('a' + i % 26));
      if (!bytes.empty()) bytes.back() = static_cast<char>('0' + round);
      kept.emplace_back(bytes, blocks.keep(bytes));
    }
    for (const auto& [original, copy] : kept) {
      ASSERT_EQ(copy, original) << "round " << round;
    }
    // The first copy after reuse() lands where the first one did before it.
    if (firstBefore != nullptr) {
      EXPECT_EQ(kept.front().second.data(), firstBefore);
    }
    firstBefore = kept.front().second.data();
    blocks.reuse();
  }
}

// The rows a batch or a rebuild holds in memory: each key's last state, a value that
// fits where the last one was written over it (no bytes taken), a longer one copied
// anew, a deletion kept as such; against a plain map of strings, through random
// changes and two clears.
TEST(RowOverlay, HoldsEachKeysLastStateAndWritesAValueThatFitsOverTheLastOne) {
  RowOverlay rows(16, 64);
  const RowOverlay::State* state = nullptr;
  EXPECT_EQ(rows.set("k", "longer value"), 1 + 12 + RowOverlay::kRowOverhead);
  const char* where = (*rows.find("k"))->data();
  EXPECT_EQ(rows.set("k", "short"), 0u) << "written over the last value";
  state = rows.find("k");
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(**state, "short");
  EXPECT_EQ((*state)->data(), where);
  EXPECT_EQ(rows.set("k", "a value longer than before"), 26u);
  EXPECT_EQ(**rows.find("k"), "a value longer than before");
  EXPECT_EQ(rows.set("k", std::nullopt), 0u);
  ASSERT_NE(rows.find("k"), nullptr);
  EXPECT_FALSE(rows.find("k")->has_value()) << "a deletion is a state";
  EXPECT_EQ(rows.set("k", "back"), 4u);
  EXPECT_EQ(**rows.find("k"), "back");
  // Rewritten again and again at the same length: always in the same place, nothing
  // taken (a count that drifted from the bytes taken would never fill the budget).
  const char* back = (*rows.find("k"))->data();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(rows.set("k", std::to_string(1000 + i)), 0u);
    ASSERT_EQ((*rows.find("k"))->data(), back);
  }
  EXPECT_EQ(**rows.find("k"), "1999");
  rows.erase("k");
  EXPECT_EQ(rows.find("k"), nullptr);
  EXPECT_EQ(rows.set("k", "anew"), 1 + 4 + RowOverlay::kRowOverhead) << "after erase, a new row";
  rows.erase("k");

  std::mt19937 random(11);
  for (int round = 0; round < 3; ++round) {
    std::map<std::string, std::optional<std::string>> expected;
    for (int i = 0; i < 3000; ++i) {
      const std::string key = "key-" + std::to_string(random() % 300);
      if (random() % 5 == 0) {
        rows.set(key, std::nullopt);
        expected[key] = std::nullopt;
      } else {
        const std::string value(random() % 40, static_cast<char>('a' + i % 26));
        rows.set(key, value);
        expected[key] = value;
      }
    }
    std::vector<RowChange> all;
    rows.appendTo(all);
    ASSERT_EQ(all.size(), expected.size());
    for (const RowChange& c : all) {
      const auto& want = expected.at(std::string(c.key));
      ASSERT_EQ(c.value.has_value(), want.has_value()) << c.key;
      if (want) {
        ASSERT_EQ(*c.value, *want) << c.key;
      }
    }
    std::map<std::string, std::optional<std::string>> prefixed;
    rows.addPrefixed("key-1", prefixed);
    for (const auto& [key, value] : expected)
      if (key.starts_with("key-1")) {
        ASSERT_EQ(prefixed.at(key), value) << key;
      }
    EXPECT_EQ(prefixed.size(), std::count_if(expected.begin(), expected.end(), [](const auto& e) {
                return e.first.starts_with("key-1");
              }));
    rows.clear();
    EXPECT_TRUE(rows.empty());
    EXPECT_EQ(rows.find("key-1"), nullptr);
  }
}

}  // namespace
}  // namespace portal

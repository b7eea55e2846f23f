// apps/bench/state_bench.cpp — what keyed state costs in memory: heap bytes per state entry against the entry's encoded size, per state kind, on the heap backend.
//
// For each kind (a value of 8 bytes, a value of 32, 4 map entries per key, a list of 4 per
// key) it fills one heap backend with --keys keys (Nexmark-like int64 keys), then prints the
// bytes the allocator holds for it (mallinfo2, before and after: tables, keys, values and
// their slack) per state entry, next to the entry's encoded size (key group, key, map key and
// value as a checkpoint writes them), and their ratio.
#include <malloc.h>

#include <sluice/sluice.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <string>

#include "operators/engine/keyed_backend.hpp"
#include "sluice/detail/state_impl.hpp"

using namespace sluice;

namespace {

struct Figures {
  uint64_t entries = 0;
  double heap_bytes = 0;
  double encoded_bytes = 0;
};

uint64_t allocated() { return mallinfo2().uordblks; }

/// Fills a new heap backend through `put(backend, i)` for every key i, and measures it.
Figures measure(int64_t keys, const std::function<void(KeyedStateBackend&, int64_t)>& put) {
  Figures f;
  malloc_trim(0);
  auto before = allocated();
  auto b = make_heap_keyed_backend([] { return int64_t(0); });
  for (int64_t i = 0; i < keys; ++i) {
    auto bytes = encode_to_bytes(i);
    std::string_view kb(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    b->set_current_key(kb, key_group_of(kb, 128));
    put(*b, i);
  }
  auto after = allocated();
  auto snapshot = b->snapshot(128);
  for (const auto& e : snapshot.entries) f.encoded_bytes += double(2 + e.key.size() + e.user_key.size() + e.value.size());
  f.entries = snapshot.entries.size();
  f.heap_bytes = double(after - before);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"state_bench: heap bytes per keyed state entry against its encoded size"};
  int64_t keys = 1'000'000;
  app.add_option("--keys", keys, "keys per state kind (default 1000000)")->check(CLI::Range(int64_t(1000), int64_t(1) << 32));
  CLI11_PARSE(app, argc, argv);

  struct Kind {
    const char* name;
    std::function<void(KeyedStateBackend&, int64_t)> put;
  };
  std::string text32(32, 'x');
  const Kind kinds[] = {
      {"value<int64>",
       [](KeyedStateBackend& b, int64_t i) { detail::open_state(b, ValueStateDescriptor<int64_t>{"v"}).update(i); }},
      {"value<string 32>",
       [&](KeyedStateBackend& b, int64_t) {
         detail::open_state(b, ValueStateDescriptor<std::string>{"s"}).update(text32);
       }},
      {"map<int64,int64> x4",
       [](KeyedStateBackend& b, int64_t i) {
         auto& m = detail::open_state(b, MapStateDescriptor<int64_t, int64_t>{"m"});
         for (int64_t k = 0; k < 4; ++k) m.put(k, i + k);
       }},
      {"list<int64> x4",
       [](KeyedStateBackend& b, int64_t i) {
         auto& l = detail::open_state(b, ListStateDescriptor<int64_t>{"l"});
         for (int64_t k = 0; k < 4; ++k) l.add(i + k);
       }},
  };
  std::printf("state_bench: %lld keys per kind, heap backend; heap = bytes the allocator holds for the backend "
              "(mallinfo2) per entry, encoded = key group, key, map key and value as checkpointed\n\n",
              static_cast<long long>(keys));
  std::printf("%-22s %10s %12s %12s %8s\n", "kind", "entries", "heap B/e", "encoded B/e", "ratio");
  std::string csv = "kind,entries,heap_bytes_per_entry,encoded_bytes_per_entry,ratio\n";
  for (const auto& k : kinds) {
    auto f = measure(keys, k.put);
    double heap = f.heap_bytes / double(f.entries), encoded = f.encoded_bytes / double(f.entries);
    std::printf("%-22s %10llu %12.1f %12.1f %8.2f\n", k.name, static_cast<unsigned long long>(f.entries), heap, encoded,
                heap / encoded);
    char line[256];
    std::snprintf(line, sizeof line, "%s,%llu,%.1f,%.1f,%.3f\n", k.name, static_cast<unsigned long long>(f.entries),
                  heap, encoded, heap / encoded);
    csv += line;
  }
  std::printf("\n%s", csv.c_str());
  return 0;
}

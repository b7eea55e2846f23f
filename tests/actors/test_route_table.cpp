// tests/actors/test_route_table.cpp — the master's routes: each subtask gone and quiet exactly once whether its agent says so or is lost, slots held until an agent's last subtask of a route is gone.
#include <catch2/catch.hpp>

#include "actors/route_table.hpp"

using namespace sluice::runtime;
using Kind = RouteEvent::Kind;

TEST_CASE("a route's subtasks are gone and quiet once each, and its slots are given back agent by agent",
          "[route_table]") {
  RouteTable t;
  auto r = t.add(7, 0, {"a", "b", "a", "b"}, {{"a", 1}, {"b", 1}});
  CHECK(r != 0);
  CHECK(t.used("a") == 1);
  CHECK(t.find(r) == std::pair<uint64_t, int32_t>{7, 0});
  CHECK(t.on_gone(r, "b", 0, "") == std::nullopt);  // subtask 0 runs on a, not b
  CHECK(t.on_gone(r, "a", 0, "") == RouteEvent{Kind::gone, 7, 0, 0, ""});
  CHECK(t.on_gone(r, "a", 0, "") == std::nullopt);  // once
  CHECK(t.on_gone(r, "a", 9, "") == std::nullopt);  // no such subtask
  CHECK(t.used("a") == 1);                          // subtask 2 still runs there
  CHECK(t.on_gone(r, "a", 2, "boom") == RouteEvent{Kind::gone, 7, 0, 2, "boom"});
  CHECK(t.used("a") == 0);
  CHECK(t.used("b") == 1);
  CHECK(t.on_quiet(r, "a") == RouteEvent{Kind::quiet, 7, 0, 0, ""});
  CHECK(t.on_quiet(r, "a"));
  CHECK(t.on_quiet(r, "a") == std::nullopt);  // a ran two subtasks: two quiet messages
  CHECK(t.size() == 1);
  t.on_gone(r, "b", 1, "");
  t.on_gone(r, "b", 3, "");
  t.on_quiet(r, "b");
  t.on_quiet(r, "b");
  CHECK(t.size() == 0);  // all owed arrived: the route is forgotten
  CHECK(t.find(r) == std::nullopt);
  CHECK(t.add(7, 1, {"a"}, {{"a", 1}}) != r);  // never reused
}

TEST_CASE("a lost agent's live subtasks are gone with the reason and quiet, in every route, and nothing twice",
          "[route_table]") {
  RouteTable t;
  auto first = t.add(1, 0, {"a", "b"}, {{"a", 1}, {"b", 1}});
  auto second = t.add(2, 3, {"b", "b", "c"}, {{"b", 2}, {"c", 1}});
  t.on_gone(first, "b", 1, "");  // already gone before the loss
  auto events = t.on_lost("b", "agent b lost: its connection closed");
  std::vector<RouteEvent> expected = {
      {Kind::quiet, 1, 0, 0, ""},  // route 1: subtask 1 was gone, its quiet still owed
      {Kind::gone, 2, 3, 0, "agent b lost: its connection closed"},
      {Kind::gone, 2, 3, 1, "agent b lost: its connection closed"},
      {Kind::quiet, 2, 3, 0, ""},
      {Kind::quiet, 2, 3, 0, ""},
  };
  CHECK(events == expected);
  CHECK(t.on_lost("b", "again").empty());
  CHECK(t.on_gone(second, "b", 0, "") == std::nullopt);
  CHECK(t.on_quiet(second, "b") == std::nullopt);
  CHECK(t.used("b") == 0);
  CHECK(t.used("c") == 1);
}

// apps/examples/demo.cpp — the README demo: word count over a built-in text, run embedded with no arguments.
#include <sluice/sluice.hpp>

#include <chrono>
#include <cstdio>

#include "final_counts.hpp"

namespace {

int demo(sluice::JobContext& ctx) {
  std::vector<std::string> text = {
      "A sluice gate meters the flow of water;",
      "Sluice meters the flow of records with credits.",
      "Records flow from sources through operators to sinks,",
      "and when a sink is slow, credits stop and the flow backs up to the sources.",
  };
  sluice::StreamEnvironment env(ctx.config);
  env.from_collection(text)
      .name("Lines")
      .flat_map<examples::WordCount>(examples::split_words, "Split")
      .key_by([](const examples::WordCount& wc) { return wc.first; })
      .sum("Count")
      .process(examples::FinalCounts(), "Final")
      .set_parallelism(1)
      .print()
      .set_parallelism(1);
  auto start = std::chrono::steady_clock::now();
  auto result = env.execute("Demo word count");
  std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  std::fprintf(stderr, "job '%s' finished in %.1f ms\n", result.job_name.c_str(), took.count());
  return 0;
}

}  // namespace

SLUICE_JOB_MAIN(demo)

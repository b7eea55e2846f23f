// apps/examples/word_count.cpp — word count over a text file: `sluice run word_count.so -- INPUT [OUTPUT]`.
#include <sluice/sluice.hpp>

#include "final_counts.hpp"

namespace {

int word_count(sluice::JobContext& ctx) {
  if (ctx.args.empty() || ctx.args.size() > 2)
    throw std::invalid_argument("usage: sluice run word_count.so -- INPUT [OUTPUT]");
  sluice::StreamEnvironment env(ctx.config);
  auto counts = env.read_text_file(ctx.args[0])
                    .flat_map<examples::WordCount>(examples::split_words, "Split")
                    .key_by([](const examples::WordCount& wc) { return wc.first; })
                    .sum("Count")
                    .process(examples::FinalCounts(), "Final")
                    .set_parallelism(1);
  if (ctx.args.size() == 2) counts.sink_to(sluice::FileSink<examples::WordCount>(ctx.args[1])).set_parallelism(1);
  else counts.print().set_parallelism(1);
  env.execute("Word count");
  return 0;
}

}  // namespace

SLUICE_JOB_MAIN(word_count)

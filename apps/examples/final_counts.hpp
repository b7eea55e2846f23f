// apps/examples/final_counts.hpp — keeps the latest count per word and emits the table, sorted, when the input ends.
#pragma once

#include <map>
#include <string>
#include <utility>

#include <sluice/sluice.hpp>

namespace examples {

using WordCount = std::pair<std::string, int64_t>;

/// Rolling counts in, final counts out: run it at parallelism 1 after a keyed sum.
class FinalCounts : public sluice::ProcessFunction<WordCount, WordCount> {
 public:
  void process(const WordCount& wc, Context&, sluice::Collector<WordCount>&) override {
    latest_[wc.first] = wc.second;
  }
  void end_input(sluice::Collector<WordCount>& out) override {
    for (auto& [word, count] : latest_) out.collect({word, count});
  }

 private:
  std::map<std::string, int64_t> latest_;
};

/// Splits a line into lower-case words of letters and digits.
inline void split_words(std::string line, sluice::Collector<WordCount>& out) {
  std::string word;
  for (char c : line) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += char(std::tolower(static_cast<unsigned char>(c)));
    } else if (!word.empty()) {
      out.collect({std::move(word), 1});
      word.clear();
    }
  }
  if (!word.empty()) out.collect({std::move(word), 1});
}

}  // namespace examples

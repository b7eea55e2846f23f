// apps/fuzz/cluster_fuzz.cpp — a standalone fuzzer for long runs against a master's or an agent's port: attacks in a seeded order, and after every batch a check that the port still authenticates a genuine peer.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "cluster_fuzz_cases.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Sends malformed, truncated, oversized and replayed messages to a Sluice cluster port", "cluster_fuzz"};
  std::string target, secret_file;
  long rounds = 1000;
  uint64_t seed = 1;
  app.add_option("--target", target, "the master's HOST:PORT, or an agent's data port")->required();
  app.add_option("--secret-file", secret_file, "the cluster's secret, for attacks after a genuine handshake");
  app.add_option("--rounds", rounds, "attacks to make (default 1000)")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the attacks' order and bytes (default 1)");
  CLI11_PARSE(app, argc, argv);
  std::string secret;
  if (!secret_file.empty()) {
    std::ifstream in(secret_file);
    std::stringstream s;
    s << in.rdbuf();
    secret = s.str();
    while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  }
  std::mt19937_64 rng(seed);
  std::map<std::string, long> answers;
  constexpr std::chrono::milliseconds timeout{5000};
  for (long round = 1; round <= rounds; ++round) {
    auto a = sluice::fuzz::Attack(rng() % sluice::fuzz::attack_kinds);
    auto answer = sluice::fuzz::attack(target, a, rng, secret, timeout);
    ++answers[std::string(sluice::fuzz::attack_name(a)) + ": " + answer.substr(0, answer.find(':'))];
    if (round % 100 == 0 || round == rounds) {
      std::string why;
      if (!sluice::fuzz::still_serves(target, secret, timeout, &why)) {
        std::cerr << "cluster_fuzz: after " << round << " attacks " << target << " no longer serves: " << why << "\n";
        return 1;
      }
      std::cout << round << " attacks, " << target << " still serves" << std::endl;
    }
  }
  for (const auto& [what, n] : answers) std::cout << n << "  " << what << "\n";
  return 0;
}

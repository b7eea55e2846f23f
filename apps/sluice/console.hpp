// apps/sluice/console.hpp — `sluice console`: the interactive console (readline) and one-shot commands over the introspection service's REST API.
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <string>
#include <vector>

namespace sluice::cli {

struct ConsoleCommand {
  std::string master;       ///< the console endpoint HOST:PORT (a master's or an embedded run's)
  std::string secret_file;  ///< the secret the endpoint asks for, if any
  std::string command;      ///< -c: run this command and exit
  bool json = false;        ///< print the service's JSON instead of tables
};

CLI::App* add_console_command(CLI::App& app, ConsoleCommand& c);
/// Runs the console: one command with -c (exit status 0, 1 when the service answered with an
/// error or could not be reached, 2 for a command it does not know), else interactively until
/// `quit` or end of input.
int run_console(const ConsoleCommand& c, std::ostream& out, std::ostream& err);

/// The console's commands and their one-line help, for `help` and completion.
struct ConsoleVerb {
  const char* name;
  const char* usage;
  const char* help;
};
const std::vector<ConsoleVerb>& console_verbs();

/// Splits a command line into words: white space separates, single or double quotes group
/// (a JSON key such as '{"id": 3}' stays one word). Throws std::invalid_argument on an open quote.
std::vector<std::string> split_command(const std::string& line);

}  // namespace sluice::cli

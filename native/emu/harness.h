// Shared by the kernel harnesses (conv3d_emu.cpp, lstm_emu.cpp, attention_pool_emu.cpp, small_ops_emu.cpp):
// the error a harness (not a kernel) raises, their command line, and the reader of a .cu file's `// launch`
// lines, parsed from the file at run time exactly as the C# host reads them (KernelLaunchTable), so a
// harness launches what the engine would.
#pragma once
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <stdexcept>
#include <string>

namespace dfer_harness {

struct HarnessError : std::runtime_error { using std::runtime_error::runtime_error; };

// `NAME <FILE.cu> [--filter SUBSTRING] [--allow-missing] [--verbose]`; --allow-missing only where the harness takes it.
struct Options { std::string path, filter; bool allow_missing = false, verbose = false; };

// Parses the command line into `opt`; false (after printing why and the usage) means exit with 2.
inline bool parse_options(int argc, char** argv, const char* name, const char* file, bool takes_allow_missing, Options& opt) {
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--filter" && i + 1 < argc) opt.filter = argv[++i];
    else if (takes_allow_missing && a == "--allow-missing") opt.allow_missing = true;
    else if (a == "--verbose" || a == "-v") opt.verbose = true;
    else if (a.rfind("--", 0) == 0) { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return false; }
    else opt.path = a;
  }
  if (opt.path.empty()) {
    std::fprintf(stderr, "usage: %s <%s (for its launch table)> [--filter SUBSTRING]%s [--verbose]\n", name, file,
                 takes_allow_missing ? " [--allow-missing]" : "");
    return false;
  }
  return true;
}

struct LaunchShape { int block = 0, tile_m = 0, tile_n = 0, smem = 0; };

// Every `// launch NAME: block B, tile_m M, tile_n N, smem S` line of `path`; a malformed or repeated one is an error.
inline std::map<std::string, LaunchShape> parse_launch_table(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw HarnessError("cannot read " + path);
  std::map<std::string, LaunchShape> table;
  std::regex re(R"(^//\s*launch\s+(\w+)\s*:\s*block\s+(\d+)\s*,\s*tile_m\s+(\d+)\s*,\s*tile_n\s+(\d+)\s*,\s*smem\s+(\d+)\s*$)");
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::smatch mm;
    if (std::regex_match(line, mm, re)) {
      if (table.count(mm[1])) throw HarnessError("launch table lists " + mm[1].str() + " twice");
      table[mm[1]] = LaunchShape{std::stoi(mm[2]), std::stoi(mm[3]), std::stoi(mm[4]), std::stoi(mm[5])};
    } else if (line.rfind("// launch", 0) == 0) {
      throw HarnessError("malformed launch line: " + line);
    }
  }
  return table;
}

}  // namespace dfer_harness

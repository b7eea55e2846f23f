// actors/console_page.hpp — the console's web page (actors/console_page.html), compiled in.
#pragma once

namespace sluice::runtime {

/// The HTML of the page the console service serves at `/`.
const char* console_page();

}  // namespace sluice::runtime

/* viz.h - entry point of `cask viz`, the self-contained HTML graph viewer.
 *
 * The `cask` driver (tools/cask.c) dispatches `cask viz ARGS...` here with
 * argv[0] == "viz"; the return value is the process exit code (0 ok,
 * 1 failure, 2 bad usage). */
#ifndef CASK_TOOL_VIZ_H
#define CASK_TOOL_VIZ_H

int cask_tool_viz(int argc, char **argv);

#endif

/*
 * token_cli.h - `switchboard token`: mint an access token from the
 * command line, for operators, scripts and tests.
 *
 * Owns: the subcommand's flags and its output (the token and a newline on
 * stdout; a one-line reason on stderr and exit 2 on a mistake). main.c
 * dispatches to it before the node's own flags are parsed.
 */
#ifndef SB_TOKEN_CLI_H
#define SB_TOKEN_CLI_H

#include "config.h"

/* argv[0] is "token". Returns the process exit status. */
int token_cli_main(int argc, char **argv, sb_getenv_fn getenv_fn);

#endif

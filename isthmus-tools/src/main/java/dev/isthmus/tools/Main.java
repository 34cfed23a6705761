/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools;

import dev.isthmus.tools.bench.BenchCommand;
import dev.isthmus.tools.demo.DemoCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code isthmus} command.
 */
@Command(name = "isthmus", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
    description = "Inter-process communication for Java processes on one Linux host.",
    subcommands = {DemoCommand.class, BenchCommand.class, ListCommand.class, StatCommand.class, CleanCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    /**
     * Runs the command line and exits with its status.
     *
     * @param args the arguments
     */
    public static void main(final String[] args) {
        System.exit(run(args));
    }

    /**
     * Runs the command line.
     *
     * @param args the arguments
     * @return the exit status
     */
    public static int run(final String... args) {
        return new CommandLine(new Main())
            .setExecutionExceptionHandler((e, commandLine, parseResult) -> {
                commandLine.getErr().println("isthmus: " + e.getMessage());
                return 1;
            })
            .execute(args);
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Reads the version from the jar's manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            final String version = Main.class.getPackage().getImplementationVersion();
            return new String[] {"isthmus " + (version == null ? "(development build)" : version)};
        }
    }
}

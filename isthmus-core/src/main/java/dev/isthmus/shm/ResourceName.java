/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The name of an operating-system resource Isthmus creates, derived from who owns it and what it is;
 * users never name resources themselves.
 *
 * <p>The one scheme is {@code <prefix>.<app>.<pid>.<kind>.<id>}, for example
 * {@code isthmus.cacheSrv.4711.queue.s3-c0-up}:
 * <ul>
 *   <li>{@code prefix}: {@value #DEFAULT_PREFIX} unless configured; 1-16 of {@code [a-z0-9]}, starting with a letter;</li>
 *   <li>{@code app}: the owning application's name; 1-48 of {@code [A-Za-z0-9_-]};</li>
 *   <li>{@code pid}: the creating process's id;</li>
 *   <li>{@code kind}: what the resource is, e.g. {@code seg}, {@code queue}, {@code sock}; 1-16 of {@code [a-z]};</li>
 *   <li>{@code id}: unique within the process; 1-64 of {@code [A-Za-z0-9_-]}; by convention the part
 *       before the first {@code '-'} names the session the resource belongs to.</li>
 * </ul>
 * Each part is validated, so a name is always a single path component no longer than
 * 255 bytes, without {@code '/'}, {@code '.'} inside a part, or anything a shell would need quoted.
 *
 * @param prefix the namespace of all Isthmus resources
 * @param app    the owning application
 * @param pid    the creating process
 * @param kind   what the resource is
 * @param id     unique within the creating process
 */
public record ResourceName(String prefix, String app, long pid, String kind, String id) {
    /** The prefix used unless the system property {@code isthmus.prefix} says otherwise. */
    public static final String DEFAULT_PREFIX = "isthmus";

    private static final Pattern PREFIX = Pattern.compile("[a-z][a-z0-9]{0,15}");
    private static final Pattern APP = Pattern.compile("[A-Za-z0-9_-]{1,48}");
    private static final Pattern KIND = Pattern.compile("[a-z]{1,16}");
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    /**
     * Validates the parts.
     *
     * @throws IllegalArgumentException naming the first part that does not match its pattern
     */
    public ResourceName {
        check("prefix", prefix, PREFIX);
        check("app", app, APP);
        if (pid <= 0 || pid > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("pid=" + pid + " is not a process id");
        }
        check("kind", kind, KIND);
        check("id", id, ID);
    }

    /**
     * {@return the name of a resource owned by this process, with the configured prefix}
     *
     * @param app  the owning application
     * @param kind what the resource is
     * @param id   unique within this process
     */
    public static ResourceName of(final String app, final String kind, final String id) {
        return new ResourceName(configuredPrefix(), app, ProcessHandle.current().pid(), kind, id);
    }

    /**
     * {@return the prefix in effect: the system property {@code isthmus.prefix}, or {@value #DEFAULT_PREFIX}}
     */
    public static String configuredPrefix() {
        return System.getProperty("isthmus.prefix", DEFAULT_PREFIX);
    }

    /**
     * Parses a name of this scheme.
     *
     * @param name a file name, e.g. an entry of {@code /dev/shm}
     * @return the parts, or empty if {@code name} does not follow the scheme
     */
    public static Optional<ResourceName> parse(final String name) {
        final String[] parts = name.split("\\.", -1);
        if (parts.length != 5) {
            return Optional.empty();
        }
        try {
            return Optional.of(new ResourceName(parts[0], parts[1], Long.parseLong(parts[2]), parts[3], parts[4]));
        } catch (final IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /**
     * {@return the session this resource belongs to: the part of the id before the first {@code '-'}}
     */
    public String group() {
        final int dash = id.indexOf('-');
        return dash < 0 ? id : id.substring(0, dash);
    }

    /**
     * {@return the name as a file name: {@code prefix.app.pid.kind.id}}
     */
    @Override
    public String toString() {
        return prefix + '.' + app + '.' + pid + '.' + kind + '.' + id;
    }

    private static void check(final String part, final String value, final Pattern pattern) {
        if (value == null || !pattern.matcher(value).matches()) {
            throw new IllegalArgumentException(part + "=" + (value == null ? "null" : '"' + value + '"')
                + " must match " + pattern.pattern());
        }
    }
}

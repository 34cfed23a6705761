/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a test that truly needs root: it plays a second user, creates a pid or mount namespace, or
 * chowns a file to someone else. Run as another user, it is skipped with the reason given here;
 * {@code .ci/run} runs these (tag {@value #TAG}) as root after the whole suite has run as an ordinary user
 * ({@code mvn verify -Proot-only}).
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.TYPE, ElementType.METHOD})
@Tag(RootOnly.TAG)
@ExtendWith(RootOnlyCondition.class)
public @interface RootOnly {
    /** The JUnit tag of such tests. */
    String TAG = "root";

    /**
     * {@return why the test needs root, e.g. {@code "runs a client as another user (setpriv)"}}
     */
    String value();
}

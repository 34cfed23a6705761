/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * The code of the user guide ({@code docs/guide.md}): every Java sample the guide shows is a region of these
 * classes between {@code // guide:<name>:begin} and {@code // guide:<name>:end}, so that the build compiles it,
 * a test checks that the guide shows it as it is, and the tests run most of it.
 *
 * <p>The methods take the applications as parameters where the guide defines them as constants: the tests run
 * them with applications that live in a temporary run directory and are not checked by main class.
 */
package dev.isthmus.examples.guide;

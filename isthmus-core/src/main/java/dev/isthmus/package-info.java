/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * The exceptions every layer shares: {@link dev.isthmus.IsthmusException} is the unchecked root of all
 * failures that are not programming errors.
 */
package dev.isthmus;

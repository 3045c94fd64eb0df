import { describe, expect, it } from "vitest";
import { StopStringMatcher } from "./stop.ts";

describe("StopStringMatcher", () => {
  it("finds a stop string spanning several pushes", () => {
    const matcher = new StopStringMatcher(["END"]);
    expect(matcher.push("the E")).toBeNull();
    expect(matcher.push("N")).toBeNull();
    expect(matcher.push("D and more")).toEqual({ start: 4, end: 7, stop: "END" });
  });

  it("returns the earliest of several stop strings", () => {
    const matcher = new StopStringMatcher(["world", "lo w"]);
    expect(matcher.push("hello world")).toEqual({ start: 3, end: 7, stop: "lo w" });
  });

  it("holds back a suffix that may start a stop string", () => {
    const matcher = new StopStringMatcher(["\n\nUser:"]);
    matcher.push("answer\n\nUs");
    expect(matcher.safeLength()).toBe(6);
    matcher.push("a");
    expect(matcher.safeLength()).toBe(11);
  });

  it("rejects an empty stop string", () => {
    expect(() => new StopStringMatcher(["ok", ""])).toThrow(/must not be empty/);
  });
});

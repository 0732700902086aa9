/**
 * Signal names and numbers as Node uses them (`os.constants.signals`): one table for validating
 * options, naming how a child ended, and turning that name back into a number.
 */
import { constants } from 'node:os';

const NUMBERS = constants.signals as Record<string, number>;

/** The first name of each number (SIGABRT, not its alias SIGIOT), as Node reports them. */
const NAMES = new Map<number, string>();
for (const [name, number] of Object.entries(NUMBERS)) if (!NAMES.has(number)) NAMES.set(number, name);

/** The number of a signal Node names, or undefined. */
export function namedSignalNumber(name: string): number | undefined {
  return NUMBERS[name];
}

/** Whether Node has a name for signal `number`. */
export function isNamedSignal(number: number): boolean {
  return NAMES.has(number);
}

/** How a child's end by signal `number` is reported: Node's name, else `SIG<n>`. */
export function signalName(number: number): NodeJS.Signals {
  return (NAMES.get(number) ?? `SIG${number}`) as NodeJS.Signals;
}

/** The number back from a name `signalName` gave. */
export function reportedSignalNumber(name: NodeJS.Signals): number {
  return NUMBERS[name] ?? Number(/^SIG(\d+)$/.exec(name)?.[1] ?? 0);
}

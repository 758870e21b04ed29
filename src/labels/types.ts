export interface Prediction {
  /** ImageNet class index, 0..999. */
  index: number;
  label: string;
  label_zh: string;
  probability: number;
}

export type Lang = 'en' | 'zh';

export const LANGS = ['en', 'zh'] as const satisfies readonly Lang[];

import { describe, expect, it } from 'vitest';
import { t } from '../../src/web/i18n.js';

describe('t', () => {
  it('says "1 thread" and "4 threads" in English, "个线程" for any count in Chinese', () => {
    expect(t('en', 'onDeviceReady', { size: '45 MB', precision: 'fp32', threads: 1 })).toBe(
      'Photos stay on this device. Model 45 MB (fp32), 1 thread.',
    );
    expect(t('en', 'onDeviceReady', { size: '45 MB', precision: 'fp32', threads: 4 })).toBe(
      'Photos stay on this device. Model 45 MB (fp32), 4 threads.',
    );
    expect(t('en', 'latencyOnDevice', { total: 9, decode: 2, inference: 7, threads: 1 })).toMatch(/, 1 thread\)$/);
    expect(t('zh', 'onDeviceReady', { size: '45 MB', precision: 'fp32', threads: 1 })).toBe(
      '照片只在本设备处理。模型 45 MB（fp32），1 个线程。',
    );
  });

  it('no message the page shows writes a plural as "(s)"', () => {
    for (const lang of ['en', 'zh'] as const) {
      for (const key of ['onDeviceReady', 'latencyOnDevice'] as const) expect(t(lang, key, { threads: 2 })).not.toContain('(s)');
    }
  });

  it('leaves a placeholder without a value as it is', () => {
    expect(t('en', 'busy')).toContain('{seconds}');
  });
});

/** The page's two languages and every string it shows. */

export type Lang = 'en' | 'zh';

const en = {
  title: 'What is in this photo?',
  subtitle: 'ResNet-18 trained on ImageNet names the top classes. Your photo stays on this server and is not stored.',
  subtitleOnDevice: 'ResNet-18 trained on ImageNet names the top classes, here in your browser. Your photo never leaves this device.',
  dropPrompt: 'Drop a photo here, paste one, or press to choose',
  dropHint: '{formats}, up to {max}',
  dropHintOnDevice: '{formats}, any size this device can open: nothing is uploaded',
  camera: 'Take a photo',
  toggle: '中文',
  toggleLabel: 'Switch to Chinese',
  analysing: 'Analysing…',
  resultsHeading: 'Top {k} guesses',
  latency: 'Server {total}\u00a0ms (decode {decode}\u00a0ms, inference {inference}\u00a0ms) · round trip {roundTrip}\u00a0ms',
  previewAlt: 'The photo you chose',
  wrongType: 'That file is not an image. Choose a {formats} photo.',
  tooLarge: 'That file is {size}; the limit is {max}. Choose a smaller photo.',
  tooManyPixels: 'That image has too many pixels for this server. Choose a smaller photo.',
  empty: 'That file is empty.',
  corrupt: 'That image is damaged or cut short and cannot be read.',
  busy: 'The server is busy. Try again in {seconds}\u00a0s.',
  notReady: 'The model is still loading. Try again in a few seconds.',
  network: 'Could not reach the server. Check your connection and try again.',
  failed: 'Something went wrong ({code}). Try again.',
  docs: 'API docs',
  onDevice: 'Run on this device',
  onDeviceOffer: 'Switch on to keep your photos on this device: the model ({size}) downloads once, then runs here.',
  onDeviceDownloading: 'Downloading the model: {loaded} of {total}',
  onDeviceStarting: 'Starting the model…',
  onDeviceReady: 'Photos stay on this device. Model {size} ({precision}), {threads|thread|threads}.',
  onDeviceNoSimd: 'This browser cannot run the model here (no WebAssembly SIMD). Turn the switch off to use the server.',
  onDeviceMemory: 'This device has not enough memory for the model or this photo. Turn the switch off to use the server.',
  onDeviceFailed: 'The model could not run on this device. Turn the switch off to use the server.',
  onDeviceUndecodable: 'This browser cannot open {format} images. Turn the switch off to have the server read it.',
  answeredBy: 'Answered by {model} ({precision})',
  modelPicker: 'Model',
  modelOption: '{name} · top-1 {top1}\u00a0% · {size}',
  modelOptionNoCard: '{name} · {size}',
  latencyOnDevice: 'On this device · {total}\u00a0ms (decode {decode}\u00a0ms, inference {inference}\u00a0ms, {threads|thread|threads})',
  camToggle: 'Show where it looked',
  camPick: 'Show where it looked for {label}',
  camCaption: 'Yellow: the strongest evidence for “{label}”. Dimmed: cropped away before the model looked.',
  camUnavailable: 'This model cannot show where it looked: its last layers do not map back onto the photo.',
} as const;

export type MessageKey = keyof typeof en;

const zh: Record<MessageKey, string> = {
  title: '这张照片里有什么？',
  subtitle: '基于 ImageNet 训练的 ResNet-18 给出最可能的类别。照片只在本服务器处理，不会保存。',
  subtitleOnDevice: '基于 ImageNet 训练的 ResNet-18 在你的浏览器里给出最可能的类别。照片不会离开本设备。',
  dropPrompt: '把照片拖到这里、粘贴，或点击选择',
  dropHint: '支持 {formats}，最大 {max}',
  dropHintOnDevice: '支持 {formats}，大小不限（本设备能打开即可）：照片不会上传',
  camera: '拍照',
  toggle: 'English',
  toggleLabel: '切换到英文',
  analysing: '识别中…',
  resultsHeading: '最可能的 {k} 个类别',
  latency: '服务器 {total} 毫秒（解码 {decode} 毫秒，推理 {inference} 毫秒）· 往返 {roundTrip} 毫秒',
  previewAlt: '你选择的照片',
  wrongType: '这个文件不是图片。请选择 {formats} 照片。',
  tooLarge: '文件大小为 {size}，超过上限 {max}。请选择更小的照片。',
  tooManyPixels: '图片像素太多，服务器无法处理。请选择更小的照片。',
  empty: '这个文件是空的。',
  corrupt: '图片已损坏或不完整，无法读取。',
  busy: '服务器繁忙，请 {seconds} 秒后重试。',
  notReady: '模型仍在加载，请稍后重试。',
  network: '无法连接服务器。请检查网络后重试。',
  failed: '出错了（{code}），请重试。',
  docs: 'API 文档',
  onDevice: '在本设备上运行',
  onDeviceOffer: '打开后照片只在本设备处理：模型（{size}）只需下载一次，之后在本地运行。',
  onDeviceDownloading: '正在下载模型：{loaded} / {total}',
  onDeviceStarting: '正在启动模型…',
  onDeviceReady: '照片只在本设备处理。模型 {size}（{precision}），{threads} 个线程。',
  onDeviceNoSimd: '此浏览器无法在本地运行模型（不支持 WebAssembly SIMD）。关闭开关即可使用服务器。',
  onDeviceMemory: '本设备内存不足，无法运行模型或处理这张照片。关闭开关即可使用服务器。',
  onDeviceFailed: '模型无法在本设备上运行。关闭开关即可使用服务器。',
  onDeviceUndecodable: '此浏览器无法打开 {format} 图片。关闭开关即可交给服务器读取。',
  answeredBy: '由 {model}（{precision}）回答',
  modelPicker: '模型',
  modelOption: '{name} · top-1 准确率 {top1}% · {size}',
  modelOptionNoCard: '{name} · {size}',
  latencyOnDevice: '在本设备上 · {total} 毫秒（解码 {decode} 毫秒，推理 {inference} 毫秒，{threads} 个线程）',
  camToggle: '显示关注区域',
  camPick: '显示“{label}”的关注区域',
  camCaption: '黄色：“{label}”的最强证据。变暗部分：模型查看之前已被裁掉。',
  camUnavailable: '此模型无法显示关注区域：它的最后几层无法对应回照片。',
};

const MESSAGES: Record<Lang, Record<MessageKey, string>> = { en, zh };

/**
 * `{name}` placeholders filled from `params`; `{name|one|other}` is the count with its noun, by the language's
 * plural rule ("1 thread", "2 threads"). Chinese has no plural and writes `{name} 个线程`.
 */
export function t(lang: Lang, key: MessageKey, params: Record<string, string | number> = {}): string {
  const rules = new Intl.PluralRules(lang);
  return MESSAGES[lang][key].replace(/\{(\w+)(?:\|([^|}]*)\|([^|}]*))?\}/g, (whole, name: string, one?: string, other?: string) => {
    if (!(name in params)) return whole;
    const value = params[name];
    if (one === undefined || other === undefined) return String(value);
    return `${value} ${rules.select(Number(value)) === 'one' ? one : other}`;
  });
}

/**
 * Names as one choice in `lang`, for `{formats}`: ['JPEG', 'PNG', 'AVIF'] → "JPEG, PNG or AVIF", "JPEG、PNG 或 AVIF".
 */
export function choiceList(lang: Lang, names: readonly string[]): string {
  const last = names.at(-1) ?? '';
  if (names.length < 2) return last;
  const rest = names.slice(0, -1);
  return lang === 'zh' ? `${rest.join('、')} 或 ${last}` : `${rest.join(', ')} or ${last}`;
}

/** A remembered choice wins; otherwise any Chinese browser locale (zh, zh-CN, zh-TW…) picks Chinese. */
export function initialLang(stored: string | null, navigatorLanguage: string | undefined): Lang {
  if (stored === 'en' || stored === 'zh') return stored;
  return navigatorLanguage?.toLowerCase().startsWith('zh') === true ? 'zh' : 'en';
}

/** 10485760 → "10 MB" (binary megabytes, as the server counts; the space is non-breaking). */
export function formatBytes(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  // A non-breaking space keeps "10 MB" on one line in a narrow hint.
  if (mb >= 1) return `${Number.isInteger(mb) ? mb : mb.toFixed(1)}\u00a0MB`;
  return `${Math.max(1, Math.round(bytes / 1024))}\u00a0KB`;
}
